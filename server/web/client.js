// streambridge browser client: draws the server's frames (JPEG, or H.264/VP8 decoded with
// WebCodecs) on a canvas and sends input back. Wire format: docs/wire-protocol.md (constants
// mirrored from server/wire.h). Plain JS, no dependencies, relative URLs only (works behind a
// path prefix and inside an iframe).
(function () {
  'use strict';

  const PROTOCOL_VERSION = 1;
  const FRAME_MAGIC = 0x53, MSG_FRAME = 0x01, FLAG_STILL = 0x01;
  const MSG_VIDEO_FRAME = 0x02, MSG_CODEC_ANSWER = 0x03, FLAG_KEYFRAME = 0x01;
  const FRAME_HEADER_LEN = 48, VIDEO_HEADER_LEN = 88, CODEC_ANSWER_LEN = 8, CODEC_STRING_MAX = 24;
  const MSG_HELLO = 0x01, MSG_ACK = 0x02, MSG_EVENT = 0x03, MSG_CODEC = 0x04, MSG_KEYFRAME_REQUEST = 0x05;
  const HELLO_LEN = 12, ACK_LEN = 12, EVENT_LEN = 80, KEYSYM_MAX = 32, CODEC_LEN = 8;
  const KEYFRAME_REQUEST_LEN = 4;
  // Codec ids of CODEC / CODEC ANSWER / VIDEO FRAME, and CODEC's decodable bitmask (bit = 1 << id).
  const CODEC_IDS = { jpeg: 0, h264: 1, vp8: 2 };
  const CODEC_NAMES = ['jpeg', 'h264', 'vp8'];
  const CODEC_NO_PREFERENCE = 255;
  // What the probe asks VideoDecoder.isConfigSupported about: the codec strings the server sends.
  const PROBE_CODEC_STRINGS = { h264: 'avc1.42E01F', vp8: 'vp8' };
  const ANSWER_REASONS = ['as asked', 'not allowed by the server', 'not decodable by this browser',
                          'encoder unavailable on the server'];
  // While waiting for a keyframe, repeat the request at most this often (the server rate-limits
  // forced keyframes too and merges requests; this only keeps the client from spamming).
  const KEYFRAME_REQUEST_REPEAT_MS = 1000;
  // Decoder errors tolerated per codec: the first asks for a keyframe, the next falls back to JPEG.
  const DECODER_ERRORS_BEFORE_FALLBACK = 2;
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
  // ?webrtc=1: the picture over WebRTC through Janus (webrtc.js, docs/webrtc.md), input over /ws.
  const useWebrtc = params.get('webrtc') === '1' && !useMjpeg && !!window.sbWebrtc;
  // ?codec=h264|vp8|jpeg; absent (or unknown): the server's default codec (WebRTC mode: JPEG,
  // shown until the WebRTC stream plays and again should it fail).
  const askedCodec = Object.hasOwn(CODEC_IDS, params.get('codec')) ? params.get('codec')
                                                                    : (useWebrtc ? 'jpeg' : null);
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

  // ---- codec choice ---------------------------------------------------------------------------
  // What the page asked for, what the server answered, and why it is not what was asked.
  const codec = {
    inUse: 'jpeg',      // what the server sends: JPEG until a CODEC ANSWER says otherwise
    codecString: '',    // the WebCodecs codec string of the current video stream
    wanted: askedCodec, // what the last CODEC message asked for (null: no preference)
    answerReason: 0,    // CODEC ANSWER's reason (ANSWER_REASONS)
    decodable: { jpeg: true, h264: false, vp8: false },
    undecodableWhy: {}, // codec name -> why the probe said no
    fallback: '',       // set once the page gave up on video: why
    errors: 0,          // decoder errors since the current video codec was chosen
  };
  function codecDescription() {
    let text = codec.inUse;
    if (codec.inUse !== 'jpeg' && codec.codecString) text += ' (' + codec.codecString + ')';
    if (codec.fallback) return text + '\n          fell back to JPEG: ' + codec.fallback;
    if (codec.answerReason) {
      text += ' (' + (codec.wanted ? 'asked ' + codec.wanted : "the server's default") + ': ' +
              (ANSWER_REASONS[codec.answerReason] || 'reason ' + codec.answerReason) + ')';
    }
    return text;
  }

  // ---- overlay -------------------------------------------------------------------------------
  const stats = { frames: 0, fpsFrames: 0, fpsStart: performance.now(), fps: 0, latencyMs: 0,
                  captureMs: 0, rttMs: 0, width: 0, height: 0, bytes: 0, quality: 0, still: false,
                  seq: 0, rxBytes: 0, kbps: 0, decodeMs: 0, keyframe: false };
  function toggleOverlay() {
    overlay.hidden = !overlay.hidden;
    renderOverlay();
  }
  function renderOverlay() {
    if (overlay.hidden) return;
    if (webrtc && webrtc.active) { overlay.textContent = webrtc.overlayText(); return; }
    overlay.textContent = (webrtc ? webrtc.overlayText() + '\n--- shown meanwhile: WebSocket ---\n' : '') +
      (useMjpeg ? 'mode      mjpeg\n' : 'codec     ' + codecDescription() + '\n') +
      'fps       ' + stats.fps.toFixed(1) + '\n' +
      (useMjpeg ? '' : 'bitrate   ' + stats.kbps.toFixed(0) + ' kbit/s\n') +
      'latency   ' + stats.latencyMs.toFixed(1) + ' ms (send -> drawn)\n' +
      'capture   ' + stats.captureMs.toFixed(1) + ' ms (capture -> drawn)\n' +
      'ack rtt   ' + stats.rttMs.toFixed(1) + ' ms\n' +
      'frame     ' + stats.width + 'x' + stats.height + ', ' + (stats.bytes / 1024).toFixed(1) + ' KiB\n' +
      (codec.inUse === 'jpeg'
        ? 'quality   ' + stats.quality + (stats.still ? ' (still)' : '') + '\n'
        : 'decode    ' + stats.decodeMs.toFixed(1) + ' ms' + (stats.keyframe ? ' (keyframe)' : '') +
          (stats.still ? ', still JPEG q' + stats.quality + ' shown' : '') + '\n') +
      'seq       ' + stats.seq;
  }
  overlayToggle.addEventListener('click', toggleOverlay);
  document.addEventListener('keydown', (e) => {
    if (e.key === OVERLAY_KEY) { e.preventDefault(); toggleOverlay(); }
  });
  setInterval(() => {
    const now = performance.now();
    stats.fps = stats.fpsFrames * 1000 / Math.max(1, now - stats.fpsStart);
    stats.kbps = stats.rxBytes * 8 / Math.max(1, now - stats.fpsStart);
    stats.fpsFrames = 0;
    stats.rxBytes = 0;
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

  // WebRTC mode: while its stream plays it draws the canvas; the WebSocket's frames are acked,
  // not drawn.
  const webrtc = useWebrtc ? window.sbWebrtc.start({ canvas, withToken, renderOverlay,
                                                     onActive: () => renderOverlay() }) : null;
  window.sbWebrtcView = webrtc; // for tests and the console: its state, close()

  // ---- WebSocket ------------------------------------------------------------------------------
  let ws = null;
  let backoffMs = 250;
  let frameW = 0, frameH = 0;
  let decoding = false;
  let pending = null; // newest JPEG waiting for the decoder: {jpeg, meta}
  // JPEG and video frames decode separately (a video client is also sent the JPEG still of the
  // frame it shows: still refinement), so one can finish after a frame that came later. Frames
  // are numbered as they arrive, the server's send order; one that arrives before the picture
  // on the canvas is acked but not drawn. (Not seqs: a new producer starts them again.)
  let arrivals = 0, drawnArrival = 0;
  const outdated = (meta) => meta.arrival < drawnArrival;

  function send(buf) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(buf);
  }
  // Acks a frame message (meta from parseHeader). Only on the connection it came on: after a
  // reconnect, an ack of the old connection's seq would be "an ack for a frame not in flight".
  function sendAck(meta) {
    if (meta.conn !== ws) return;
    const b = new ArrayBuffer(ACK_LEN);
    const v = new DataView(b);
    v.setUint8(0, MSG_ACK);
    v.setBigUint64(4, meta.seq, true);
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
  // CODEC: the codec wanted (a name, or null for the server's default) and every codec this
  // browser decodes. The server answers with CODEC ANSWER.
  function sendCodec(wanted) {
    codec.wanted = wanted;
    let mask = 0;
    for (const name of CODEC_NAMES) if (codec.decodable[name]) mask |= 1 << CODEC_IDS[name];
    const b = new ArrayBuffer(CODEC_LEN);
    const v = new DataView(b);
    v.setUint8(0, MSG_CODEC);
    v.setUint8(1, wanted ? CODEC_IDS[wanted] : CODEC_NO_PREFERENCE);
    v.setUint8(2, mask);
    send(b);
  }
  function sendKeyframeRequest() {
    const b = new ArrayBuffer(KEYFRAME_REQUEST_LEN);
    new DataView(b).setUint8(0, MSG_KEYFRAME_REQUEST);
    send(b);
  }

  function connect() {
    const url = withToken('ws');
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    setStatus('connecting', 'connecting');
    const sock = new WebSocket(url.href);
    ws = sock;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      setStatus('open', 'connected');
      sendHello();
      announceCodecs(sock);
      lastResize = null;
      scheduleResize();
    };
    ws.onmessage = (msg) => {
      if (!(msg.data instanceof ArrayBuffer)) return;
      stats.rxBytes += msg.data.byteLength;
      onMessage(msg.data);
    };
    ws.onclose = (ev) => {
      ws = null;
      pending = null;
      resetVideo();
      const delay = backoffMs;
      backoffMs = Math.min(backoffMs * 2, 10000);
      setStatus('closed', 'disconnected' + (ev.code ? ' (' + ev.code + ')' : '') +
                ', retrying in ' + (delay / 1000).toFixed(1) + ' s');
      setTimeout(connect, delay);
    };
  }

  function onMessage(buf) {
    if (buf.byteLength < 4) return;
    const v = new DataView(buf);
    if (v.getUint8(0) !== FRAME_MAGIC) return;
    const type = v.getUint8(1);
    if (type === MSG_FRAME) onFrame(buf, v);
    else if (type === MSG_VIDEO_FRAME) onVideoFrame(buf, v);
    else if (type === MSG_CODEC_ANSWER) onCodecAnswer(buf, v);
  }

  // The 48 bytes JPEG and video frame messages share (docs/wire-protocol.md).
  function parseHeader(v) {
    return {
      conn: ws, arrival: ++arrivals, headerLen: v.getUint16(2, true),
      width: v.getUint32(4, true), height: v.getUint32(8, true),
      byte12: v.getUint8(12), flags: v.getUint8(13),
      seq: v.getBigUint64(16, true), captureNs: v.getBigUint64(24, true),
      sendNs: v.getBigUint64(32, true), payloadLen: v.getUint32(40, true),
      rttUs: v.getUint32(44, true),
    };
  }
  function payloadOf(buf, meta) {
    const start = Math.min(meta.headerLen, buf.byteLength);
    return new Uint8Array(buf, start, Math.min(meta.payloadLen, buf.byteLength - start));
  }

  // ---- JPEG frames ----------------------------------------------------------------------------
  function onFrame(buf, v) {
    if (buf.byteLength < FRAME_HEADER_LEN) return;
    const meta = parseHeader(v);
    if (webrtc && webrtc.active) { sendAck(meta); return; }
    meta.quality = meta.byte12;
    meta.still = (meta.flags & FLAG_STILL) !== 0;
    backoffMs = 250;
    const jpeg = new Blob([payloadOf(buf, meta)], { type: 'image/jpeg' });
    if (pending) sendAck(pending.meta); // superseded before it was decoded: never drawn
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
        if (!outdated(item.meta)) draw(bmp, bmp.width, bmp.height, item.meta);
        bmp.close();
        sendAck(item.meta);
        decodeNext();
      });
    }, () => {
      sendAck(item.meta);
      decodeNext();
    });
  }

  // A hidden tab gets no animation frames; waiting for one would leave the frame unacked until
  // the server closes the connection for it (ack_timeout_ms). So a hidden tab draws at once, and
  // draws already waiting for a frame when the tab hides run then. (JPEG and video draws can
  // both wait while the server switches codecs: each runs once.)
  let paintWaiting = [];
  function runPaintWaiting() {
    const fns = paintWaiting;
    paintWaiting = [];
    for (const f of fns) f();
  }
  function onNextPaint(fn) {
    if (document.hidden) { setTimeout(fn, 0); return; }
    paintWaiting.push(fn);
    if (paintWaiting.length === 1) requestAnimationFrame(runPaintWaiting);
  }
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden || !paintWaiting.length) return;
    runPaintWaiting();
  });

  // Draws the top-left srcW x srcH of src (an ImageBitmap or a VideoFrame) on the canvas, which
  // takes that size: a video frame's coded size can carry padding beyond its visible size.
  function draw(src, srcW, srcH, meta) {
    if (webrtc && webrtc.active) return;
    if (canvas.width !== srcW || canvas.height !== srcH) {
      canvas.width = srcW;
      canvas.height = srcH;
    }
    ctx2d.drawImage(src, 0, 0, srcW, srcH, 0, 0, srcW, srcH);
    frameW = srcW;
    frameH = srcH;
    drawnArrival = meta.arrival;
    const nowMs = Date.now();
    stats.frames++;
    stats.fpsFrames++;
    stats.latencyMs = nowMs - Number(meta.sendNs / 1000n) / 1000;
    stats.captureMs = meta.captureNs ? nowMs - Number(meta.captureNs / 1000n) / 1000 : 0;
    stats.rttMs = meta.rttUs / 1000;
    stats.width = meta.width;
    stats.height = meta.height;
    stats.bytes = meta.payloadLen;
    stats.quality = meta.quality || 0;
    stats.still = !!meta.still;
    stats.keyframe = !!meta.key;
    stats.seq = meta.seq;
  }

  // ---- codec negotiation ----------------------------------------------------------------------
  // Which video codecs this browser decodes: VideoDecoder.isConfigSupported with the codec
  // strings the server sends, asked once. No WebCodecs (an old browser, an insecure context):
  // JPEG only.
  const hasWebCodecs = typeof VideoDecoder === 'function' && typeof EncodedVideoChunk === 'function';
  const probed = (async () => {
    await Promise.all(Object.keys(PROBE_CODEC_STRINGS).map(async (name) => {
      const codecString = PROBE_CODEC_STRINGS[name];
      if (!hasWebCodecs) {
        codec.undecodableWhy[name] = 'no WebCodecs VideoDecoder in this browser';
        return;
      }
      try {
        const r = await VideoDecoder.isConfigSupported({ codec: codecString, optimizeForLatency: true });
        codec.decodable[name] = !!r.supported;
        if (!r.supported) codec.undecodableWhy[name] = 'VideoDecoder does not support ' + codecString;
      } catch (e) {
        codec.undecodableWhy[name] = 'VideoDecoder.isConfigSupported(' + codecString + ') failed: ' + e.message;
      }
    }));
  })();

  // After HELLO on every connection: ask for ?codec= (JPEG when this browser cannot decode it,
  // with the reason in the overlay), or for the server's default.
  function announceCodecs(sock) {
    probed.then(() => {
      if (ws !== sock) return; // reconnected meanwhile: the new connection announces itself
      if (codec.fallback) sendCodec('jpeg');
      else if (askedCodec && !codec.decodable[askedCodec]) fallBackToJpeg(codec.undecodableWhy[askedCodec]);
      else sendCodec(askedCodec);
    });
  }

  // Gives up on video for this page (the reason stays in the overlay): asks for JPEG, which
  // every server sends, and stops claiming the failed codec is decodable.
  function fallBackToJpeg(why) {
    if (codec.fallback) return;
    codec.fallback = why || 'unknown reason';
    console.warn('streambridge: fell back to JPEG: ' + codec.fallback);
    if (codec.inUse !== 'jpeg') codec.decodable[codec.inUse] = false;
    if (codec.wanted && codec.wanted !== 'jpeg') codec.decodable[codec.wanted] = false;
    closeDecoder();
    sendCodec('jpeg');
    renderOverlay();
  }

  function onCodecAnswer(buf, v) {
    if (buf.byteLength < CODEC_ANSWER_LEN) return;
    const name = CODEC_NAMES[v.getUint8(4)];
    if (!name) return;
    if (name !== codec.inUse) {
      codec.inUse = name;
      codec.codecString = '';
      codec.errors = 0;
    }
    codec.answerReason = v.getUint8(5);
    if (name !== 'jpeg' && !codec.decodable[name]) fallBackToJpeg('the server chose ' + name + ', which this browser cannot decode');
    renderOverlay();
  }

  // ---- video frames (WebCodecs) ---------------------------------------------------------------
  // One VideoDecoder per stream_id (an encoder instance: a new size or codec is a new stream,
  // starting with a keyframe). Every packet must be decoded in order; a missing one (a gap in
  // frame_no) or a decoder error would show a corrupted picture, so the client then decodes
  // nothing until the next keyframe (which it requests) and the canvas keeps the last good
  // picture. Acks: a frame is acked once drawn, or once it is clear it never will be (skipped
  // while waiting for a keyframe, superseded by a newer decoded frame before the next paint,
  // lost in a decoder error).
  const video = {
    current: null,      // {decoder, streamId, codecString, codedW, codedH, inflight: Map ts -> meta}
    needKey: true,      // decode nothing until a keyframe
    nextFrameNo: 0,
    lastKeyRequestMs: -Infinity,
    timestamp: 0,       // chunk timestamps: a counter (a seq may come twice, refined)
    shown: null,        // {frame, meta}: decoded, waiting for the next paint
  };

  function closeDecoder() {
    const d = video.current;
    video.current = null;
    video.needKey = true;
    if (!d) return;
    for (const meta of d.inflight.values()) sendAck(meta);
    d.inflight.clear();
    if (d.decoder.state !== 'closed') d.decoder.close();
  }
  function resetVideo() {
    closeDecoder();
    if (video.shown) { video.shown.frame.close(); video.shown = null; }
  }

  function waitForKeyframe() {
    video.needKey = true;
    const now = performance.now();
    if (now - video.lastKeyRequestMs < KEYFRAME_REQUEST_REPEAT_MS) return;
    video.lastKeyRequestMs = now;
    sendKeyframeRequest();
  }

  function onDecoderError(why) {
    closeDecoder();
    codec.errors++;
    console.warn('streambridge: video decoder error (' + codec.errors + '): ' + why);
    if (codec.errors >= DECODER_ERRORS_BEFORE_FALLBACK) fallBackToJpeg('decoder error: ' + why);
    else waitForKeyframe();
  }

  function openDecoder(meta) {
    const d = { streamId: meta.streamId, codecString: meta.codecString, codedW: meta.codedW,
                codedH: meta.codedH, inflight: new Map(), decoder: null };
    d.decoder = new VideoDecoder({
      output: (frame) => onDecoded(d, frame),
      error: (e) => { if (video.current === d) onDecoderError(e.message || String(e)); },
    });
    video.current = d;
    // H.264 comes as Annex B with SPS/PPS in every keyframe: no description needed.
    d.decoder.configure({ codec: meta.codecString, codedWidth: meta.codedW, codedHeight: meta.codedH,
                          optimizeForLatency: true, hardwareAcceleration: 'no-preference' });
    codec.codecString = meta.codecString;
  }

  function readCodecString(buf) {
    const bytes = new Uint8Array(buf, 64, CODEC_STRING_MAX);
    let s = '';
    for (const b of bytes) {
      if (!b) break;
      s += String.fromCharCode(b);
    }
    return s;
  }

  function onVideoFrame(buf, v) {
    if (buf.byteLength < FRAME_HEADER_LEN) return;
    const meta = parseHeader(v);
    backoffMs = 250;
    if (buf.byteLength < VIDEO_HEADER_LEN || meta.headerLen < VIDEO_HEADER_LEN) { sendAck(meta); return; }
    meta.codecId = meta.byte12;
    meta.key = (meta.flags & FLAG_KEYFRAME) !== 0;
    meta.streamId = v.getUint32(48, true);
    meta.frameNo = v.getUint32(52, true);
    meta.codedW = v.getUint32(56, true);
    meta.codedH = v.getUint32(60, true);
    meta.codecString = readCodecString(buf);
    // Video after giving up on it (the server has not switched yet), or that cannot be decoded.
    if (codec.fallback || !hasWebCodecs) { sendAck(meta); return; }

    let d = video.current;
    const newStream = !d || d.streamId !== meta.streamId || d.codecString !== meta.codecString ||
                      d.codedW !== meta.codedW || d.codedH !== meta.codedH;
    const gap = !newStream && meta.frameNo !== video.nextFrameNo;
    if (newStream || gap || video.needKey) {
      if (!meta.key) { sendAck(meta); waitForKeyframe(); return; }
      if (newStream) {
        closeDecoder();
        try {
          openDecoder(meta);
        } catch (e) {
          sendAck(meta);
          onDecoderError(e.message);
          return;
        }
        d = video.current;
      }
      video.needKey = false;
    }
    video.nextFrameNo = meta.frameNo + 1;
    const ts = ++video.timestamp;
    meta.submittedMs = performance.now();
    d.inflight.set(ts, meta);
    try {
      d.decoder.decode(new EncodedVideoChunk({ type: meta.key ? 'key' : 'delta', timestamp: ts,
                                               data: payloadOf(buf, meta) }));
    } catch (e) {
      d.inflight.delete(ts);
      sendAck(meta);
      onDecoderError(e.message);
    }
  }

  function onDecoded(d, frame) {
    const meta = d.inflight.get(frame.timestamp);
    // Frames are output in decode order: anything older still in flight was dropped by the
    // decoder and will never be drawn.
    for (const [ts, m] of d.inflight) {
      if (ts > frame.timestamp) break;
      d.inflight.delete(ts);
      if (ts !== frame.timestamp) sendAck(m);
    }
    if (!meta || video.current !== d || meta.conn !== ws) {
      frame.close();
      if (meta) sendAck(meta);
      return;
    }
    stats.decodeMs = performance.now() - meta.submittedMs;
    if (video.shown) { // superseded before the next paint: never drawn
      video.shown.frame.close();
      sendAck(video.shown.meta);
    } else {
      onNextPaint(drawShownVideoFrame);
    }
    video.shown = { frame, meta };
  }

  function drawShownVideoFrame() {
    const item = video.shown;
    video.shown = null;
    if (!item) return;
    // displayWidth is the coded size, or the visible one when the bitstream crops itself.
    if (!outdated(item.meta)) {
      draw(item.frame, Math.min(item.meta.width, item.frame.displayWidth),
           Math.min(item.meta.height, item.frame.displayHeight), item.meta);
    }
    item.frame.close();
    sendAck(item.meta);
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
