"""kopf's connection to the API server, on a pool with a limit.

kopf's own HTTP session opens one connection per concurrent request, without a limit.
When 2,000 Canaries appear at once, kopf patches them all at once (finalizer, progress
annotations) over as many TLS connections, and each holds asyncio's 256 KiB read buffer:
the operator's resident memory jumped by 600 MB in two seconds. Profiled at 1,000
Canaries, those buffers were 280 MB of a 507 MB peak. So the operator logs in with
kopf's usual credentials but hands kopf a session whose pool is bounded.

Every watch stream holds a connection for as long as it runs, so the pool has a place
for each stream plus `REQUEST_CONNECTIONS` shared by the requests (which queue for one).
"""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp
import kopf

# The kinds the operator watches (kopf indexes, events and daemons): canaries,
# deployments, metrictemplates, alertproviders, virtualservices, horizontalpodautoscalers.
WATCHED_KINDS = 6

# Connections kopf's patches and posts share, besides the watch streams.
REQUEST_CONNECTIONS = 32


def pool_size(namespaces: Sequence[str], peering: bool) -> int:
    """Connections for one watch stream per kind and namespace (one per kind when serving
    the whole cluster), the peering objects' too, plus the requests' share."""
    kinds = WATCHED_KINDS + (1 if peering else 0)
    return kinds * max(len(namespaces), 1) + REQUEST_CONNECTIONS


def bounded_session(info: kopf.ConnectionInfo, connections: int) -> kopf.AiohttpSession:
    """kopf's credentials `info` on an aiohttp session of at most `connections`
    connections (kopf closes the session when it logs in again)."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),
        proxy=info.proxy_url,
        trust_env=info.trust_env,
    )
    return kopf.AiohttpSession(
        server=info.server,
        default_namespace=info.default_namespace,
        priority=info.priority,
        expiration=info.expiration,
        aiohttp_session=session,
    )
