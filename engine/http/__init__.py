"""Outbound HTTP for the `http_request` node: where calls may go (`policy`), how they are made
(`transport`: connections to vetted addresses only, a deadline over the whole call, a capped body),
what a redirect may carry (`redirects`) and what is never recorded (`redaction`). Pure Python on
`requests`/urllib3; the worker injects the policy as `NodeServices.outbound_policy`.
"""
