// streambridge browser client: draws the server's JPEG frames on a canvas and sends input back.
// Wire format: docs/wire-protocol.md (constants mirrored from server/wire.h). Plain JS, no
// dependencies, relative URLs only (works behind a path prefix and inside an iframe).
(function () {
  'use strict';

  const PROTOCOL_VERSION = 1;
  const FRAME_MAGIC = 0x53, MSG_FRAME = 0x01, FLAG_STILL = 0x01;
  const MSG_HELLO = 0x01, MSG_ACK = 0x02, MSG_EVENT = 0x03;
  const HELLO_LEN = 12, ACK_LEN = 12, EVENT_LEN = 80, KEYSYM_MAX = 32;
  // sb_event_type (capi/include/streambridge/events.h)
  const EV = { MOVE: 1, PRESS: 2, RELEASE: 3, WHEEL: 4, KEY_PRESS: 5, KEY_RELEASE: 6, CHAR: 7, RESIZE: 8 };
  const BTN = { NONE: 0, LEFT: 1, MIDDLE: 2, RIGHT: 3 };
  const MOD = { SHIFT: 1, CTRL: 2, ALT: 4, META: 8 };
  const MAX_RESIZE_PIXELS = 3840 * 2160; // cap for requested render size
  const RESIZE_DEBOUNCE_MS = 200;
  const OVERLAY_KEY = 'F2';

  const params = new URLSearchParams(location.search);
  const token = params.get('token');
  const useMjpeg = params.get('mjpeg') === '1';
  const canvas = document.getElementById('sb-view');
  const img = document.getElementById('sb-mjpeg');
  const statusEl = document.getElementById('sb-status');
  const overlay = document.getElementById('sb-overlay');
  const overlayToggle = document.getElementById('sb-overlay-toggle');
  const ctx2d = canvas.getContext('2d', { alpha: false });

  function withToken(path) {
    const url = new URL(path, location.href);
    if (token) url.searchParams.set('token', token);
    return url;
  }

  function setStatus(state, text) {
    statusEl.className = 'state-' + state;
    statusEl.textContent = text;
  }

  // ---- overlay -------------------------------------------------------------------------------
  const stats = { frames: 0, fpsFrames: 0, fpsStart: performance.now(), fps: 0, latencyMs: 0,
                  captureMs: 0, rttMs: 0, width: 0, height: 0, bytes: 0, quality: 0, still: false,
                  seq: 0 };
  function toggleOverlay() {
    overlay.hidden = !overlay.hidden;
    renderOverlay();
  }
  function renderOverlay() {
    if (overlay.hidden) return;
    overlay.textContent =
      (useMjpeg ? 'mode      mjpeg\n' : '') +
      'fps       ' + stats.fps.toFixed(1) + '\n' +
      'latency   ' + stats.latencyMs.toFixed(1) + ' ms (send -> drawn)\n' +
      'capture   ' + stats.captureMs.toFixed(1) + ' ms (capture -> drawn)\n' +
      'ack rtt   ' + stats.rttMs.toFixed(1) + ' ms\n' +
      'frame     ' + stats.width + 'x' + stats.height + ', ' + (stats.bytes / 1024).toFixed(1) + ' KiB\n' +
      'quality   ' + stats.quality + (stats.still ? ' (still)' : '') + '\n' +
      'seq       ' + stats.seq;
  }
  overlayToggle.addEventListener('click', toggleOverlay);
  document.addEventListener('keydown', (e) => {
    if (e.key === OVERLAY_KEY) { e.preventDefault(); toggleOverlay(); }
  });
  setInterval(() => {
    const now = performance.now();
    stats.fps = stats.fpsFrames * 1000 / Math.max(1, now - stats.fpsStart);
    stats.fpsFrames = 0;
    stats.fpsStart = now;
    renderOverlay();
  }, 1000);

  // ---- MJPEG mode: a plain <img>, no input ----------------------------------------------------
  if (useMjpeg) {
    canvas.hidden = true;
    img.hidden = false;
    img.src = withToken('video.mjpeg').href;
    img.addEventListener('load', () => setStatus('open', 'streaming'));
    img.addEventListener('error', () => setStatus('closed', 'stream unavailable'));
    setStatus('connecting', 'connecting');
    return;
  }

  // ---- WebSocket ------------------------------------------------------------------------------
  let ws = null;
  let backoffMs = 250;
  let frameW = 0, frameH = 0;
  let decoding = false;
  let pending = null; // newest frame waiting for the decoder: {seq, blob, meta}

  function send(buf) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(buf);
  }
  function sendAck(seq) {
    const b = new ArrayBuffer(ACK_LEN);
    const v = new DataView(b);
    v.setUint8(0, MSG_ACK);
    v.setBigUint64(4, seq, true);
    send(b);
  }
  function sendHello() {
    const r = contentRect();
    const b = new ArrayBuffer(HELLO_LEN);
    const v = new DataView(b);
    v.setUint8(0, MSG_HELLO);
    v.setUint8(1, PROTOCOL_VERSION);
    v.setUint32(4, Math.max(1, Math.round(r.w)), true);
    v.setUint32(8, Math.max(1, Math.round(r.h)), true);
    send(b);
  }

  function connect() {
    const url = withToken('ws');
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    setStatus('connecting', 'connecting');
    ws = new WebSocket(url.href);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      setStatus('open', 'connected');
      sendHello();
      lastResize = null;
      scheduleResize();
    };
    ws.onmessage = (msg) => {
      if (!(msg.data instanceof ArrayBuffer)) return;
      onFrame(msg.data);
    };
    ws.onclose = (ev) => {
      ws = null;
      pending = null;
      const delay = backoffMs;
      backoffMs = Math.min(backoffMs * 2, 10000);
      setStatus('closed', 'disconnected' + (ev.code ? ' (' + ev.code + ')' : '') +
                ', retrying in ' + (delay / 1000).toFixed(1) + ' s');
      setTimeout(connect, delay);
    };
  }

  function onFrame(buf) {
    if (buf.byteLength < 48) return;
    const v = new DataView(buf);
    if (v.getUint8(0) !== FRAME_MAGIC || v.getUint8(1) !== MSG_FRAME) return;
    const hlen = v.getUint16(2, true);
    const meta = {
      width: v.getUint32(4, true), height: v.getUint32(8, true),
      quality: v.getUint8(12), still: (v.getUint8(13) & FLAG_STILL) !== 0,
      seq: v.getBigUint64(16, true), captureNs: v.getBigUint64(24, true),
      sendNs: v.getBigUint64(32, true), jpegLen: v.getUint32(40, true),
      rttUs: v.getUint32(44, true),
    };
    backoffMs = 250;
    const jpeg = new Blob([new Uint8Array(buf, hlen, Math.min(meta.jpegLen, buf.byteLength - hlen))],
                          { type: 'image/jpeg' });
    if (pending) sendAck(pending.meta.seq); // superseded before it was decoded: never drawn
    pending = { jpeg, meta };
    if (!decoding) decodeNext();
  }

  function decodeNext() {
    const item = pending;
    pending = null;
    if (!item) { decoding = false; return; }
    decoding = true;
    // Decoding happens off the input path; the draw waits for the next animation frame.
    createImageBitmap(item.jpeg).then((bmp) => {
      onNextPaint(() => {
        draw(bmp, item.meta);
        bmp.close();
        sendAck(item.meta.seq);
        decodeNext();
      });
    }, () => {
      sendAck(item.meta.seq);
      decodeNext();
    });
  }

  // A hidden tab gets no animation frames; waiting for one would leave the frame unacked until
  // the server closes the connection for it (ack_timeout_ms). So a hidden tab draws at once, and
  // a draw already waiting for a frame when the tab hides runs then.
  let paintWaiting = null;
  function onNextPaint(fn) {
    if (document.hidden) { setTimeout(fn, 0); return; }
    paintWaiting = fn;
    requestAnimationFrame(() => {
      const f = paintWaiting;
      paintWaiting = null;
      if (f) f();
    });
  }
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden || !paintWaiting) return;
    const f = paintWaiting;
    paintWaiting = null;
    f();
  });

  function draw(bmp, meta) {
    if (canvas.width !== bmp.width || canvas.height !== bmp.height) {
      canvas.width = bmp.width;
      canvas.height = bmp.height;
    }
    ctx2d.drawImage(bmp, 0, 0);
    frameW = bmp.width;
    frameH = bmp.height;
    const nowMs = Date.now();
    stats.frames++;
    stats.fpsFrames++;
    stats.latencyMs = nowMs - Number(meta.sendNs / 1000n) / 1000;
    stats.captureMs = meta.captureNs ? nowMs - Number(meta.captureNs / 1000n) / 1000 : 0;
    stats.rttMs = meta.rttUs / 1000;
    stats.width = meta.width;
    stats.height = meta.height;
    stats.bytes = meta.jpegLen;
    stats.quality = meta.quality;
    stats.still = meta.still;
    stats.seq = meta.seq;
  }

  // ---- input ----------------------------------------------------------------------------------
  // The frame is drawn with object-fit: contain; events are sent in the coordinates of the
  // drawn image (CSS pixels) together with its size, and the server scales to frame pixels.
  // Ratios make devicePixelRatio and CSS zoom irrelevant.
  function contentRect() {
    const r = canvas.getBoundingClientRect();
    const fw = frameW || r.width, fh = frameH || r.height;
    const scale = Math.min(r.width / fw, r.height / fh) || 1;
    const w = fw * scale, h = fh * scale;
    return { x: r.left + (r.width - w) / 2, y: r.top + (r.height - h) / 2, w, h };
  }
  function modifiers(e) {
    return (e.shiftKey ? MOD.SHIFT : 0) | (e.ctrlKey ? MOD.CTRL : 0) |
           (e.altKey ? MOD.ALT : 0) | (e.metaKey ? MOD.META : 0);
  }
  function eventMsg(type, fields) {
    const b = new ArrayBuffer(EVENT_LEN);
    const v = new DataView(b);
    v.setUint8(0, MSG_EVENT);
    v.setUint8(1, type);
    v.setUint8(2, fields.button || 0);
    v.setUint8(3, fields.modifiers || 0);
    v.setFloat32(4, fields.x || 0, true);
    v.setFloat32(8, fields.y || 0, true);
    v.setUint32(12, fields.viewW || 0, true);
    v.setUint32(16, fields.viewH || 0, true);
    v.setFloat32(20, fields.wheel || 0, true);
    v.setUint32(24, fields.keyCode || 0, true);
    v.setUint32(28, fields.width || 0, true);
    v.setUint32(32, fields.height || 0, true);
    v.setBigUint64(40, BigInt(Date.now()) * 1000000n, true);
    const ks = fields.keysym || '';
    for (let i = 0; i < ks.length && i < KEYSYM_MAX - 1; i++) v.setUint8(48 + i, ks.charCodeAt(i) & 0x7f);
    return b;
  }
  function pointerFields(e, button) {
    const r = contentRect();
    return { x: e.clientX - r.x, y: e.clientY - r.y, viewW: Math.max(1, Math.round(r.w)),
             viewH: Math.max(1, Math.round(r.h)), button, modifiers: modifiers(e) };
  }
  function heldButton(buttons) {
    if (buttons & 1) return BTN.LEFT;
    if (buttons & 4) return BTN.MIDDLE;
    if (buttons & 2) return BTN.RIGHT;
    return BTN.NONE;
  }
  const domButton = [BTN.LEFT, BTN.MIDDLE, BTN.RIGHT];
  const domButtonBit = [1, 4, 2]; // DOM button index -> its bit in PointerEvent.buttons

  // Moves are coalesced to one per animation frame; presses/releases flush the pending move
  // first so ordering is preserved.
  let pendingMove = null;
  function flushMove() {
    if (pendingMove) { send(pendingMove); pendingMove = null; }
  }
  function moveLoop() {
    flushMove();
    requestAnimationFrame(moveLoop);
  }
  requestAnimationFrame(moveLoop);

  // The buttons the server was told are down. Every press gets exactly one release, whatever
  // way the button comes up: pointerup, a chorded button change (reported as pointermove),
  // pointercancel, a lost pointer capture or the window losing focus. A release the server
  // never gets leaves its interactor in a rotate/pan state.
  let heldBits = 0;
  let lastPointer = null;
  function syncButtons(e, buttons) {
    for (let i = 0; i < domButton.length; i++) {
      const bit = domButtonBit[i];
      const down = (buttons & bit) !== 0;
      if (down === ((heldBits & bit) !== 0)) continue;
      flushMove();
      send(eventMsg(down ? EV.PRESS : EV.RELEASE, pointerFields(e, domButton[i])));
      heldBits ^= bit;
    }
  }
  function releaseAll(e) {
    if (heldBits && e) syncButtons(e, 0);
    heldBits = 0;
  }

  canvas.addEventListener('pointerdown', (e) => {
    if (domButton[e.button] === undefined) return;
    lastPointer = e;
    canvas.focus();
    canvas.setPointerCapture(e.pointerId);
    syncButtons(e, e.buttons | domButtonBit[e.button]);
    e.preventDefault();
  });
  canvas.addEventListener('pointermove', (e) => {
    lastPointer = e;
    // A second button pressed or released while another is down comes as a pointermove with
    // e.button set (pointer events' chorded buttons), not as pointerdown/pointerup.
    if (e.button >= 0) syncButtons(e, e.buttons);
    pendingMove = eventMsg(EV.MOVE, pointerFields(e, heldButton(e.buttons)));
  });
  canvas.addEventListener('pointerup', (e) => {
    lastPointer = e;
    syncButtons(e, e.buttons);
    if (!e.buttons && canvas.hasPointerCapture(e.pointerId)) canvas.releasePointerCapture(e.pointerId);
  });
  canvas.addEventListener('pointercancel', (e) => { lastPointer = e; releaseAll(e); });
  canvas.addEventListener('lostpointercapture', (e) => releaseAll(lastPointer || e));
  window.addEventListener('blur', () => releaseAll(lastPointer));
  canvas.addEventListener('contextmenu', (e) => e.preventDefault());
  canvas.addEventListener('wheel', (e) => {
    e.preventDefault();
    const unit = e.deltaMode === 1 ? 3 : e.deltaMode === 2 ? 1 : 100; // pixels per notch
    let notches = -e.deltaY / unit;
    if (!notches) return;
    notches = Math.max(-10, Math.min(10, notches));
    flushMove();
    const f = pointerFields(e, BTN.NONE);
    f.wheel = notches;
    send(eventMsg(EV.WHEEL, f));
  }, { passive: false });

  // DOM KeyboardEvent.key -> X11 keysym name.
  const KEYSYMS = {
    Enter: 'Return', Escape: 'Escape', Backspace: 'BackSpace', Tab: 'Tab', Delete: 'Delete',
    Insert: 'Insert', Home: 'Home', End: 'End', PageUp: 'Prior', PageDown: 'Next',
    ArrowLeft: 'Left', ArrowRight: 'Right', ArrowUp: 'Up', ArrowDown: 'Down', ' ': 'space',
    Shift: 'Shift_L', Control: 'Control_L', Alt: 'Alt_L', Meta: 'Super_L', CapsLock: 'Caps_Lock',
    '+': 'plus', '-': 'minus', '=': 'equal', ',': 'comma', '.': 'period', '/': 'slash',
    '\\': 'backslash', ';': 'semicolon', "'": 'apostrophe', '[': 'bracketleft', ']': 'bracketright',
    '`': 'grave', '*': 'asterisk', '!': 'exclam', '?': 'question', '#': 'numbersign',
    '$': 'dollar', '%': 'percent', '&': 'ampersand', '(': 'parenleft', ')': 'parenright',
    '_': 'underscore', ':': 'colon', '<': 'less', '>': 'greater', '@': 'at', '^': 'asciicircum',
    '{': 'braceleft', '}': 'braceright', '|': 'bar', '~': 'asciitilde', '"': 'quotedbl',
  };
  function keysymOf(key) {
    if (KEYSYMS[key]) return KEYSYMS[key];
    if (/^F([1-9]|1[0-2])$/.test(key)) return key;
    if (/^[A-Za-z0-9]$/.test(key)) return key;
    return '';
  }
  function keyCodeOf(key) {
    return [...key].length === 1 ? key.codePointAt(0) : 0;
  }
  canvas.addEventListener('keydown', (e) => {
    if (e.key === OVERLAY_KEY) return;
    const keysym = keysymOf(e.key);
    const keyCode = keyCodeOf(e.key);
    if (!keysym && !keyCode) return;
    if (!(e.ctrlKey || e.metaKey)) e.preventDefault(); // keep browser shortcuts working
    flushMove();
    send(eventMsg(EV.KEY_PRESS, { keysym, keyCode, modifiers: modifiers(e) }));
    if (keyCode >= 0x20 && !(e.ctrlKey || e.metaKey))
      send(eventMsg(EV.CHAR, { keysym, keyCode, modifiers: modifiers(e) }));
  });
  canvas.addEventListener('keyup', (e) => {
    if (e.key === OVERLAY_KEY) return;
    const keysym = keysymOf(e.key);
    const keyCode = keyCodeOf(e.key);
    if (!keysym && !keyCode) return;
    send(eventMsg(EV.KEY_RELEASE, { keysym, keyCode, modifiers: modifiers(e) }));
  });

  // Resize: ask the producer to render at the displayed size in device pixels (capped).
  let resizeTimer = 0;
  let lastResize = null;
  function scheduleResize() {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      const r = canvas.getBoundingClientRect();
      const dpr = window.devicePixelRatio || 1;
      let w = Math.round(r.width * dpr), h = Math.round(r.height * dpr);
      if (w < 1 || h < 1) return;
      if (w * h > MAX_RESIZE_PIXELS) {
        const s = Math.sqrt(MAX_RESIZE_PIXELS / (w * h));
        w = Math.floor(w * s);
        h = Math.floor(h * s);
      }
      const key = w + 'x' + h;
      if (key === lastResize || !ws || ws.readyState !== WebSocket.OPEN) return;
      lastResize = key;
      send(eventMsg(EV.RESIZE, { width: w, height: h }));
      sendHello();
    }, RESIZE_DEBOUNCE_MS);
  }
  new ResizeObserver(scheduleResize).observe(canvas);

  connect();
})();
