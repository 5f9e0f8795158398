"""What the agent can do for a caller, as tools a brain calls by name with JSON arguments:
the appointment book, messages, hanging up and transferring, and the business's own HTTP
tools. :mod:`voiced.tools.box` runs them for one call: deadlines, arguments checked against
their schema, tools that change something run once and only once the reply is heard."""
