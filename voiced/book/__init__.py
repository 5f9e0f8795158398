"""The appointment book the agent books into: services, hours and staff from ``[book]``
(:mod:`voiced.book.schedule`), appointments in a store (:mod:`voiced.book.sqlite`, the
embedded default)."""
