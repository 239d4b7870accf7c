"""Live views in Jupyter: display(stream) shows the stream in the output cell as an iframe.

Where the iframe points (public_url):
  1. stream.public_url_template, else $STREAMBRIDGE_PUBLIC_URL: a URL or path with "{port}"
     ("/user/me/proxy/{port}/", "https://host/sb/{port}/"); the value "direct" forces 3.
  2. Behind JupyterHub / Binder ($JUPYTERHUB_SERVICE_PREFIX set, e.g. "/user/me/"):
     PREFIX + "proxy/{port}/", the path jupyter-server-proxy serves, on the notebook's own
     origin, so only the hub's URL needs to be reachable.
  3. Otherwise the stream's own address, http://127.0.0.1:PORT/ (a notebook on this machine).
The access token (random by default in a kernel) is appended as ?token=.

Proxies that keep the public Host header (JupyterHub's, jupyter-server-proxy) need the public
origin among the server's allowed origins, or the loopback server's DNS-rebinding guard refuses
the page ("403 forbidden: Host not allowed"): streambridge.stream(..., allowed_origins=
"https://hub.example.org") or $STREAMBRIDGE_ALLOWED_ORIGINS; JupyterHub's $JUPYTERHUB_PUBLIC_URL
and $JUPYTERHUB_PUBLIC_HUB_URL are added when the hub sets them. When the view is refused for
that reason, the output cell says which origin to allow.

A path with no extra port (frames and input over the kernel's comm channel) is designed in
docs/jupyter.md, not built.
"""

import html
import json
import os
import sys
from typing import Any, Optional
from urllib.parse import urlsplit

DEFAULT_SIZE = (640, 480)


def in_kernel() -> bool:
    """Whether this code runs in a Jupyter (IPython) kernel."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


def _origin_of(url: str) -> Optional[str]:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return "%s://%s" % (parts.scheme, parts.netloc)
    return None


def default_allowed_origins() -> Optional[str]:
    """$STREAMBRIDGE_ALLOWED_ORIGINS plus the hub's public origins it names, or None."""
    origins = [o.strip() for o in os.environ.get("STREAMBRIDGE_ALLOWED_ORIGINS", "").split(",")
               if o.strip()]
    for name in ("JUPYTERHUB_PUBLIC_URL", "JUPYTERHUB_PUBLIC_HUB_URL"):
        origin = _origin_of(os.environ.get(name, ""))
        if origin and origin not in origins:
            origins.append(origin)
    return ",".join(origins) or None


def url_template(stream: Any = None) -> Optional[str]:
    """The template the view's URL is made from ("/user/me/proxy/{port}/"), None = direct."""
    template = getattr(stream, "public_url_template", None) or \
        os.environ.get("STREAMBRIDGE_PUBLIC_URL")
    if template == "direct":
        return None
    if template:
        return template
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if prefix:
        return prefix.rstrip("/") + "/proxy/{port}/"
    return None


def public_url(stream: Any) -> Optional[str]:
    """The viewer page's URL as the notebook's browser reaches it (module doc), None without a
    server."""
    port = stream.port
    if port is None:
        return None
    template = url_template(stream)
    if template is None:
        return stream.url
    url = template.format(port=port) + getattr(stream, "_path", "/").lstrip("/")
    return url + ("?token=" + stream.token if stream.token else "")


def _window_size(stream: Any):
    window = getattr(stream, "_window", None)
    try:
        width, height = window.GetSize()
        if width > 0 and height > 0:
            return width, height
    except Exception:
        pass
    return DEFAULT_SIZE


# When the view is proxied on the notebook's own origin, the output cell can ask the proxy what
# the stream answers and turn a refusal into a sentence that names the fix.
_HINT_SCRIPT = """
<script>
(function () {
  var box = document.getElementById(%(box)s);
  if (!box || !window.fetch) return;
  fetch(%(src)s, {credentials: 'same-origin'}).then(function (r) {
    if (r.status !== 403) return;
    return r.text().then(function (text) {
      if (text.indexOf('Host not allowed') < 0 && text.indexOf('origin not allowed') < 0) return;
      var hint = box.querySelector('.streambridge-hint');
      hint.textContent = 'streambridge: the proxy forwards this page\\'s host name, which the ' +
        'stream does not trust yet. Make the stream with allowed_origins="' +
        location.origin + '" (or set STREAMBRIDGE_ALLOWED_ORIGINS=' + location.origin +
        ' in the kernel\\'s environment).';
      hint.style.display = 'block';
    });
  }).catch(function () {});
})();
</script>"""


def iframe_html(stream: Any, width: Optional[int] = None, height: Optional[int] = None) -> str:
    """HTML for the output cell: the live view in an iframe of the window's size."""
    if stream.closed:
        return "<pre>%s</pre>" % html.escape(repr(stream))
    src = public_url(stream)
    if src is None:
        return "<pre>%s (not served: no web server)</pre>" % html.escape(repr(stream))
    w, h = _window_size(stream)
    w, h = width or w, height or h
    box = "streambridge-%d-%d" % (stream.port, id(stream))
    out = ('<div id="%s" class="streambridge-view">'
           '<iframe src="%s" width="%d" height="%d" style="border:0;max-width:100%%" '
           'allow="fullscreen" title="streambridge live view"></iframe>'
           '<div class="streambridge-hint" style="display:none;color:#b00;font-family:sans-serif">'
           '</div></div>' % (box, html.escape(src, quote=True), w, h))
    if src.startswith("/"):
        out += _HINT_SCRIPT % {"box": json.dumps(box), "src": json.dumps(src)}
    return out
