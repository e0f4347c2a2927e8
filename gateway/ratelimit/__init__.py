"""Request (rpm) and token (tpm) rate limits per tenant and per key, shared by replicas through Redis.

`window` is the pure sliding-log arithmetic, `backend` the Protocol and the in-process logs,
`redis_backend` the same step as one Lua script, `limiter` the LLM lane's admit/settle and OpenAI headers.
"""
