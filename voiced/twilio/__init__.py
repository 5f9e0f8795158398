"""Everything that speaks Twilio: the Media Streams messages (:mod:`.wire`), the socket they
travel on (:mod:`.socket`), request signatures (:mod:`.signature`), TwiML (:mod:`.twiml`) and
the REST calls that end or transfer a call (:mod:`.rest`).

Below the engines and stages: it knows nothing of calls, only of Twilio's formats.
"""
