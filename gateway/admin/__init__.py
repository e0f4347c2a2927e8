"""The admin API under /admin/v1/: tenants and their keys, authorised by an admin key (docs/api.md).

`wire` holds the request models, `auth` the admin-key check, `views` the JSON shapes, `routes` the router.
"""
