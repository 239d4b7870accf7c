// streambridge stream picker: lists the server's streams (GET streams, docs/wire-protocol.md
// "Streams") with a thumbnail each and links to each stream's viewer (v/NAME/). The list is
// polled, so streams added or removed while the page is open appear and disappear. Relative
// URLs only: the page works behind a reverse proxy under any path prefix.
(function () {
  'use strict';
  const POLL_MS = 2000;
  // The server re-encodes a thumbnail at most once a second; asking more often only gets the
  // cached one.
  const THUMB_REFRESH_MS = 4000;

  const params = new URLSearchParams(location.search);
  const token = params.get('token');
  const list = document.getElementById('sb-picker-list');
  const statusEl = document.getElementById('sb-picker-status');
  const cards = new Map(); // name -> { li, img, meta, thumbAt }

  function withToken(path) {
    const url = new URL(path, location.href);
    if (token) url.searchParams.set('token', token);
    return url;
  }

  function thumbUrl(s) {
    const url = withToken(s.thumbnail_url);
    url.searchParams.set('seq', String(s.last_seq)); // a new picture when the stream moved
    return url.href;
  }

  function describe(s) {
    const size = s.width && s.height ? s.width + '\u00d7' + s.height : 'no frame yet';
    const who = s.clients === 1 ? '1 viewer' : s.clients + ' viewers';
    return size + ' \u00b7 ' + who + (s.view_only ? ' \u00b7 view only' : '');
  }

  function makeCard(s) {
    const li = document.createElement('li');
    li.className = 'sb-card';
    li.dataset.name = s.name;
    const a = document.createElement('a');
    a.href = withToken(s.view_url).href;
    a.setAttribute('aria-label', 'open stream ' + s.name);
    const img = document.createElement('img');
    img.className = 'sb-thumb';
    img.alt = 'thumbnail of ' + s.name;
    const caption = document.createElement('div');
    caption.className = 'sb-caption';
    const name = document.createElement('span');
    name.className = 'sb-name';
    name.textContent = s.name; // text, never markup
    const meta = document.createElement('span');
    meta.className = 'sb-meta';
    caption.append(name, meta);
    a.append(img, caption);
    li.append(a);
    return { li, img, meta, thumbAt: 0 };
  }

  function render(streams) {
    const seen = new Set();
    const now = performance.now();
    for (const s of streams) {
      seen.add(s.name);
      let card = cards.get(s.name);
      if (!card) {
        card = makeCard(s);
        cards.set(s.name, card);
      }
      list.append(card.li); // keeps the server's order (the order streams were added in)
      card.meta.textContent = describe(s);
      if (s.last_seq > 0 && now - card.thumbAt >= THUMB_REFRESH_MS) {
        card.thumbAt = now;
        card.img.src = thumbUrl(s);
      }
    }
    for (const [name, card] of cards) {
      if (!seen.has(name)) {
        card.li.remove();
        cards.delete(name);
      }
    }
    statusEl.textContent = streams.length === 0 ? 'no streams yet: this page updates when one starts'
      : streams.length === 1 ? '1 stream' : streams.length + ' streams';
  }

  async function poll() {
    try {
      const r = await fetch(withToken('streams'), { cache: 'no-store' });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const body = await r.json();
      render(Array.isArray(body.streams) ? body.streams : []);
    } catch (e) {
      statusEl.textContent = 'cannot read the list (' + e.message + '): retrying';
    }
    setTimeout(poll, POLL_MS);
  }
  poll();
})();
