"""The fleet tenant store: Redis, shared by every replica; each change one Lua script that bumps a version.

    store = RedisTenantStore(redis.asyncio.Redis.from_url("redis://redis:6379/0"), owns_client=True)

Keys (one hash tag, so a Redis Cluster keeps them in one slot and a script may touch them together):

    <prefix>{tenancy}:tenants   hash name -> tenant JSON
    <prefix>{tenancy}:keys      hash key id -> key JSON (immutable once written)
    <prefix>{tenancy}:revoked   hash key id -> revocation time (epoch seconds)
    <prefix>{tenancy}:version   integer, incremented by every change

Replicas poll `version` (one GET) and reload with one script that reads everything at once, so the
snapshot is consistent. A tenant's PATCH is a compare-and-set on its JSON, retried on a concurrent change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio
from redis.exceptions import RedisError

from gateway.tenancy.records import (
    ApiKeyRecord,
    KeyNotFound,
    StoreSnapshot,
    StoreUnavailable,
    TenantExists,
    TenantNotFound,
    TenantRecord,
)

__all__ = ["RedisTenantStore"]

# KEYS everywhere: 1 tenants 2 keys 3 revoked 4 version.
_CREATE = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('INCR', KEYS[4])
return 1
"""
_PUT = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCR', KEYS[4])
return 1
"""
# ARGV: name, expected JSON, new JSON. -1 no tenant, 0 changed meanwhile, 1 done.
_CAS = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return -1 end
if cur ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('INCR', KEYS[4])
return 1
"""
_DELETE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  if cjson.decode(all[i + 1])['tenant'] == ARGV[1] then
    redis.call('HDEL', KEYS[2], all[i])
    redis.call('HDEL', KEYS[3], all[i])
  end
end
redis.call('INCR', KEYS[4])
return 1
"""
# ARGV: tenant, id, JSON, replace ('1'/'0'). -1 no tenant, 0 id taken, 1 done.
_ADD_KEY = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end
if ARGV[4] == '0' and redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[2])
redis.call('INCR', KEYS[4])
return 1
"""
# ARGV: id, now. Returns false (no key) or {JSON, revoked_at}.
_REVOKE = """
local doc = redis.call('HGET', KEYS[2], ARGV[1])
if not doc then return false end
if redis.call('HSETNX', KEYS[3], ARGV[1], ARGV[2]) == 1 then redis.call('INCR', KEYS[4]) end
return {doc, redis.call('HGET', KEYS[3], ARGV[1])}
"""
_SNAPSHOT = """
return {redis.call('GET', KEYS[4]) or '0', redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]),
        redis.call('HGETALL', KEYS[3])}
"""
_CAS_ATTEMPTS = 20


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: Sequence[Any]) -> dict[str, str]:
    return {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}


class RedisTenantStore:
    """A `TenantStore` on Redis. See the module docstring for the key layout."""

    def __init__(
        self,
        client: redis.asyncio.Redis,  # type: ignore[type-arg]  # generic in types-redis, not in redis 8
        *,
        key_prefix: str = "modelgate:",
        owns_client: bool = False,
    ) -> None:
        base = f"{key_prefix}{{tenancy}}:"
        self._keys = [f"{base}tenants", f"{base}keys", f"{base}revoked", f"{base}version"]
        self._client = client
        self._owns_client = owns_client
        self._scripts = {
            name: client.register_script(src)
            for name, src in (
                ("create", _CREATE),
                ("put", _PUT),
                ("cas", _CAS),
                ("delete", _DELETE),
                ("add_key", _ADD_KEY),
                ("revoke", _REVOKE),
                ("snapshot", _SNAPSHOT),
            )
        }

    async def _call(self, name: str, *args: str) -> Any:
        try:
            return await self._scripts[name](keys=self._keys, args=list(args))
        except RedisError as exc:
            raise StoreUnavailable(f"tenant store on Redis: {exc}") from exc

    async def version(self) -> int:
        try:
            value = await self._client.get(self._keys[3])
        except RedisError as exc:
            raise StoreUnavailable(f"tenant store on Redis: {exc}") from exc
        return int(value or 0)

    async def snapshot(self) -> StoreSnapshot:
        version, tenants, keys, revoked = await self._call("snapshot")
        revoked_at = {k: float(v) for k, v in _pairs(revoked).items()}
        return StoreSnapshot(
            int(_text(version)),
            {n: TenantRecord.from_json(d) for n, d in _pairs(tenants).items()},
            {i: ApiKeyRecord.from_json(d, revoked_at.get(i)) for i, d in _pairs(keys).items()},
        )

    async def create_tenant(self, tenant: TenantRecord) -> None:
        if await self._call("create", tenant.name, tenant.to_json()) == 0:
            raise TenantExists(f"tenant {tenant.name!r} already exists")

    async def put_tenant(self, tenant: TenantRecord) -> None:
        await self._call("put", tenant.name, tenant.to_json())

    async def update_tenant(self, name: str, changes: dict[str, Any]) -> TenantRecord:
        for _ in range(_CAS_ATTEMPTS):
            try:
                current = await self._client.hget(self._keys[0], name)
            except RedisError as exc:
                raise StoreUnavailable(f"tenant store on Redis: {exc}") from exc
            if current is None:
                raise TenantNotFound(f"no tenant named {name!r}")
            updated = TenantRecord.from_json(current).with_limits(changes)
            result = await self._call("cas", name, _text(current), updated.to_json())
            if result == -1:
                raise TenantNotFound(f"no tenant named {name!r}")
            if result == 1:
                return updated
        raise StoreUnavailable(f"tenant {name!r} kept changing; try again")

    async def delete_tenant(self, name: str) -> None:
        if await self._call("delete", name) == 0:
            raise TenantNotFound(f"no tenant named {name!r}")

    async def add_key(self, key: ApiKeyRecord, *, replace_id: bool = False) -> None:
        result = await self._call("add_key", key.tenant, key.id, key.to_json(), "1" if replace_id else "0")
        if result == -1:
            raise TenantNotFound(f"no tenant named {key.tenant!r}")
        if result == 0:
            raise StoreUnavailable(f"key id {key.id!r} is taken; try again")

    async def revoke_key(self, key_id: str, *, now: float) -> ApiKeyRecord:
        result = await self._call("revoke", key_id, repr(now))
        if not result:
            raise KeyNotFound(f"no API key with id {key_id!r}")
        return ApiKeyRecord.from_json(result[0], float(_text(result[1])))

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()  # type: ignore[attr-defined]
