"""Renders a shipped proxy snippet (gateway/deploy/) for bench/gateway/run.sh.

    python3 render.py nginx|envoy|envoy-grpc SNIPPET OUT AUTH_ADDR UPSTREAM_ADDR PORT [no-auth]

Replaces the snippet's placeholders (the gateway on 127.0.0.1:8090, the upstream on
127.0.0.1:9000, the proxy on 8080) exactly as the gateway's proxy tests do; each must be there,
or the benchmark would run a configuration of its own. `no-auth` turns the decision off and
changes nothing else, so that the no-auth row differs from the auth rows only by the auth hop:
nginx `auth_request off;` in place of `auth_request /_clerk_auth;`; Envoy's ext_authz filter
disabled for the route (`ExtAuthzPerRoute` with `disabled: true`); envoy-grpc (gRPC ext_authz)
has no such variant, its baseline being the HTTP file's.
"""

import re
import sys

kind, snippet, out, auth, upstream, port = sys.argv[1:7]
no_auth = sys.argv[7:] == ["no-auth"]
text = open(snippet).read()
auth_port, upstream_port = auth.rsplit(":", 1)[1], upstream.rsplit(":", 1)[1]

if kind == "nginx":
    replacements = [
        ("127.0.0.1:8090", auth),
        ("127.0.0.1:9000", upstream),
        ("listen 8080;", f"listen 127.0.0.1:{port};"),
    ]
elif kind == "envoy":
    replacements = [
        ("uri: http://127.0.0.1:8090", f"uri: http://{auth}"),
        ("port_value: 8090", f"port_value: {auth_port}"),
        ("port_value: 9000", f"port_value: {upstream_port}"),
        ("port_value: 8080", f"port_value: {port}"),
    ]
elif kind == "envoy-grpc":
    replacements = [
        ("port_value: 8090", f"port_value: {auth_port}"),
        ("port_value: 9000", f"port_value: {upstream_port}"),
        ("port_value: 8080", f"port_value: {port}"),
    ]
    if no_auth:
        sys.exit("render.py: envoy-grpc has no no-auth variant (use envoy's)")
else:
    sys.exit(f"render.py: unknown proxy {kind}")

for old, new in replacements:
    if old not in text:
        sys.exit(f"render.py: {snippet} no longer has the placeholder {old!r}")
    text = text.replace(old, new)

if no_auth:
    if kind == "nginx":
        pattern = re.compile(r"^(\s*auth_request\s+)/_clerk_auth;", re.M)
        text, n = pattern.subn(r"\1off;", text)
    else:
        pattern = re.compile(r"^(\s*)route: \{ cluster: app \}\n", re.M)

        def disable(m):
            i = m.group(1)
            return (f"{i}route: {{ cluster: app }}\n"
                    f"{i}typed_per_filter_config:\n"
                    f"{i}  envoy.filters.http.ext_authz:\n"
                    f'{i}    "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute\n'
                    f"{i}    disabled: true\n")

        text, n = pattern.subn(disable, text)
    if n != 1:
        sys.exit(f"render.py: {snippet}: found {n} places to turn the decision off, not 1")

with open(out, "w") as f:
    f.write(text)
