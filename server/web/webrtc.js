// streambridge browser client, WebRTC mode (?webrtc=1; docs/webrtc.md): the picture comes from
// a Janus streaming mountpoint (fed by the server's RTP sender) over WebRTC and is drawn in the
// same view (the canvas); input still goes over our /ws (token and Origin rules unchanged). The
// page learns where Janus is from the server's /webrtc.json. A small client of Janus's HTTP
// (REST) API of our own: no janus.js/adapter.js, nothing from a CDN. Plain JS, relative URLs.
//
// client.js calls window.sbWebrtc.start(hooks) when ?webrtc=1; until the stream plays (and again
// if it fails) client.js draws the WebSocket's frames as usual, so a page never goes blank.
(function () {
  'use strict';

  const ICE_GATHER_TIMEOUT_MS = 3000;
  const STATS_INTERVAL_MS = 1000;
  const LONG_POLL_EVENTS = 10;
  // Janus drops a session silent for session_timeout (60 s by default).
  const KEEPALIVE_MS = 25000;
  // A viewer that failed (Janus down or restarted, ICE/DTLS timed out on a loaded machine)
  // tries again after this, doubling up to RETRY_MAX_MS.
  const RETRY_FIRST_MS = 1000, RETRY_MAX_MS = 10000;

  function newTransaction() {
    return Math.random().toString(36).slice(2) + Date.now().toString(36);
  }

  // One Janus HTTP API session with one streaming plugin handle.
  class JanusSession {
    constructor(baseUrl) {
      this.base = baseUrl.replace(/\/+$/, '');
      this.sessionId = null;
      this.handleId = null;
      this.closed = false;
      this.waiters = new Map(); // transaction -> resolve, for asynchronous plugin answers
      this.onEvent = null;      // (event) => void for everything else
      this.polling = false;
      this.keepalive = 0;
    }
    // text/plain: a "simple" CORS request (no preflight); Janus parses the body as JSON anyway.
    async post(path, body) {
      const res = await fetch(this.base + path, {
        method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'text/plain' },
      });
      if (!res.ok) throw new Error('Janus HTTP ' + res.status + ' on ' + (path || '/'));
      const json = await res.json();
      if (json.janus === 'error') throw new Error('Janus: ' + json.error.reason);
      return json;
    }
    async create() {
      const r = await this.post('', { janus: 'create', transaction: newTransaction() });
      this.sessionId = r.data.id;
      const a = await this.post('/' + this.sessionId, { janus: 'attach', plugin: 'janus.plugin.streaming',
                                                       transaction: newTransaction() });
      this.handleId = a.data.id;
      this.keepalive = setInterval(() => {
        this.post('/' + this.sessionId, { janus: 'keepalive', transaction: newTransaction() }).catch(() => {});
      }, KEEPALIVE_MS);
    }
    handlePath() { return '/' + this.sessionId + '/' + this.handleId; }
    // A plugin message; resolves with the event that answers it (plugindata + jsep).
    async message(body, jsep) {
      const transaction = newTransaction();
      const answered = new Promise((resolve) => this.waiters.set(transaction, resolve));
      const msg = { janus: 'message', body, transaction };
      if (jsep) msg.jsep = jsep;
      const r = await this.post(this.handlePath(), msg);
      if (r.janus === 'success') { this.waiters.delete(transaction); return r; }
      this.poll();
      return answered;
    }
    trickle(candidate) {
      return this.post(this.handlePath(), { janus: 'trickle', candidate, transaction: newTransaction() });
    }
    // The long poll for Janus's asynchronous answers, only while one is awaited: a watching
    // viewer holds no HTTP connection (browsers allow six per host: a page with many viewers,
    // or a proxy, would run out), and the peer connection's state reports a lost stream.
    async poll() {
      if (this.polling) return;
      this.polling = true;
      while (!this.closed && this.waiters.size > 0) {
        let events;
        try {
          const res = await fetch(this.base + '/' + this.sessionId + '?maxev=' + LONG_POLL_EVENTS +
                                  '&rid=' + Date.now());
          events = await res.json();
        } catch (e) {
          this.polling = false;
          if (this.closed) return;
          if (this.onEvent) this.onEvent({ janus: 'error', error: { reason: 'long poll: ' + e.message } });
          return;
        }
        for (const ev of Array.isArray(events) ? events : [events]) {
          const resolve = ev.transaction && this.waiters.get(ev.transaction);
          if (resolve && ev.janus === 'event') {
            this.waiters.delete(ev.transaction);
            resolve(ev);
          } else if (this.onEvent) {
            this.onEvent(ev);
          }
        }
      }
      this.polling = false;
    }
    destroy() {
      if (this.closed || this.sessionId === null) return Promise.resolve();
      this.closed = true;
      clearInterval(this.keepalive);
      // keepalive: the request survives the page's unload.
      return fetch(this.base + '/' + this.sessionId, {
        method: 'POST', keepalive: true, headers: { 'Content-Type': 'text/plain' },
        body: JSON.stringify({ janus: 'destroy', transaction: newTransaction() }),
      }).catch(() => {});
    }
  }

  function waitIceGathering(pc) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); resolve(); };
      const timer = setTimeout(done, ICE_GATHER_TIMEOUT_MS);
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') done();
      });
    });
  }

  // hooks (from client.js): canvas (the view), withToken(path), onActive(bool) (true: WebRTC
  // draws the view, client.js stops drawing its own frames), renderOverlay().
  function start(hooks) {
    const state = {
      active: false, phase: 'asking the server (/webrtc.json)', error: '', janusUrl: '',
      mountpoint: 0, codec: '', fps: 0, framesDecoded: 0, packetsLost: 0, packetsReceived: 0,
      jitterMs: 0, rttMs: NaN,
      kbps: 0, width: 0, height: 0, iceState: 'new', framesShown: 0, failures: 0,
    };
    const video = document.createElement('video');
    video.id = 'sb-webrtc-video';
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    // Decoded by the browser, shown through the canvas (input keeps its one surface).
    video.style.cssText = 'position:absolute;width:1px;height:1px;opacity:0;pointer-events:none';
    document.body.appendChild(video);
    const ctx = hooks.canvas.getContext('2d', { alpha: false });
    let pc = null, janus = null, statsTimer = 0, lastBytes = 0, lastStatsAt = 0;
    // Each attempt has a generation: late failures of an abandoned attempt are ignored.
    let generation = 0, retryTimer = 0, retries = 0, closed = false;

    function setActive(on) {
      if (state.active === on) return;
      state.active = on;
      hooks.onActive(on);
    }
    function teardown() {
      clearInterval(statsTimer);
      statsTimer = 0;
      lastStatsAt = 0;
      if (pc) pc.close();
      pc = null;
      const j = janus;
      janus = null;
      return j ? j.destroy() : Promise.resolve();
    }
    // The attempt gen failed: client.js shows the WebSocket's frames again; retry later.
    function fail(gen, why) {
      if (gen !== generation || closed) return;
      generation++;
      state.error = why || 'unknown error';
      state.failures++;
      teardown();
      setActive(false);
      const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.min(retries++, 4));
      state.phase = 'retrying in ' + (delay / 1000).toFixed(0) + ' s';
      retryTimer = setTimeout(run, delay);
      hooks.renderOverlay();
    }

    // Each decoded video frame onto the canvas, at the video's size.
    function drawLoop() {
      const paint = () => {
        if (video.videoWidth && video.videoHeight) {
          const c = hooks.canvas;
          if (c.width !== video.videoWidth || c.height !== video.videoHeight) {
            c.width = video.videoWidth;
            c.height = video.videoHeight;
          }
          ctx.drawImage(video, 0, 0);
          state.framesShown++;
          if (pc && state.phase === 'playing') {
            state.error = '';
            retries = 0;
            setActive(true);
          }
        }
        schedule();
      };
      const schedule = () => {
        if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(paint);
        else requestAnimationFrame(paint);
      };
      schedule();
    }

    async function readStats() {
      if (!pc) return;
      const report = await pc.getStats();
      const now = performance.now();
      report.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') {
          state.fps = s.framesPerSecond || 0;
          state.framesDecoded = s.framesDecoded || 0;
          state.packetsLost = s.packetsLost || 0;
          state.packetsReceived = s.packetsReceived || 0;
          state.jitterMs = (s.jitter || 0) * 1000;
          state.width = s.frameWidth || 0;
          state.height = s.frameHeight || 0;
          if (lastStatsAt) state.kbps = (s.bytesReceived - lastBytes) * 8 / (now - lastStatsAt);
          lastBytes = s.bytesReceived;
          const c = s.codecId && report.get(s.codecId);
          if (c) state.codec = c.mimeType;
        } else if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' &&
                   s.currentRoundTripTime !== undefined) {
          state.rttMs = s.currentRoundTripTime * 1000;
        }
      });
      lastStatsAt = now;
      hooks.renderOverlay();
    }

    async function watch(config, gen) {
      state.janusUrl = new URL(config.janus_url, location.href).href;
      state.mountpoint = config.mountpoint;
      state.phase = 'connecting to Janus';
      janus = new JanusSession(state.janusUrl);
      janus.onEvent = (ev) => {
        if (ev.janus === 'hangup') fail(gen, 'Janus hung up: ' + (ev.reason || 'no reason'));
        else if (ev.janus === 'error') fail(gen, ev.error && ev.error.reason);
        else if (ev.janus === 'event' && ev.plugindata && ev.plugindata.data &&
                 ev.plugindata.data.error) fail(gen, 'Janus: ' + ev.plugindata.data.error);
      };
      await janus.create();
      state.phase = 'asking mountpoint ' + config.mountpoint + ' for an offer';
      const offer = await janus.message({ request: 'watch', id: config.mountpoint });
      const data = offer.plugindata && offer.plugindata.data;
      if (data && data.error) throw new Error('Janus: ' + data.error);
      if (!offer.jsep) throw new Error('Janus sent no offer for mountpoint ' + config.mountpoint);
      pc = new RTCPeerConnection({ iceServers: [] });
      pc.ontrack = (e) => {
        // An interactive view, not a broadcast: ask the receiver to play frames as they come
        // instead of building up a jitter buffer (Chromium: playoutDelayHint; the standard
        // jitterBufferTarget where it exists). Loss shows as a stall, never as a delay.
        try {
          if ('jitterBufferTarget' in e.receiver) e.receiver.jitterBufferTarget = 0;
          if ('playoutDelayHint' in e.receiver) e.receiver.playoutDelayHint = 0;
        } catch (err) { /* read-only in this browser: its default buffering */ }
        video.srcObject = e.streams[0] || new MediaStream([e.track]);
        video.play().catch(() => {});
      };
      pc.oniceconnectionstatechange = () => {
        state.iceState = pc.iceConnectionState;
        if (pc.iceConnectionState === 'failed') fail(gen, 'ICE failed (no path to Janus: docs/webrtc.md, TURN)');
        hooks.renderOverlay();
      };
      pc.onconnectionstatechange = () => {
        if (pc && pc.connectionState === 'failed') fail(gen, 'the connection to Janus failed (ICE/DTLS)');
      };
      await pc.setRemoteDescription(offer.jsep);
      await pc.setLocalDescription(await pc.createAnswer());
      // Half trickle: the answer carries our candidates, then "completed".
      state.phase = 'gathering ICE candidates';
      await waitIceGathering(pc);
      state.phase = 'starting';
      await janus.message({ request: 'start' }, { type: 'answer', sdp: pc.localDescription.sdp });
      await janus.trickle({ completed: true });
      state.phase = 'playing';
      statsTimer = setInterval(() => { readStats().catch(() => {}); }, STATS_INTERVAL_MS);
    }

    async function run() {
      const gen = generation;
      retryTimer = 0;
      try {
        state.phase = 'asking the server (/webrtc.json)';
        const res = await fetch(hooks.withToken('webrtc.json'));
        const config = await res.json();
        if (!res.ok) throw new Error(config.error || 'webrtc.json: HTTP ' + res.status);
        await watch(config, gen);
      } catch (e) {
        fail(gen, e.message || String(e));
      }
    }
    drawLoop();
    run();
    // Leaves the mountpoint: Janus frees the viewer at once (not at its session timeout).
    async function close() {
      closed = true;
      generation++;
      clearTimeout(retryTimer);
      setActive(false);
      await teardown();
    }
    window.addEventListener('pagehide', () => { close(); });

    const fmt = (v, digits) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
    return {
      get active() { return state.active; },
      state,
      video,
      close,
      overlayText() {
        return 'transport webrtc via Janus ' + state.janusUrl + ', mountpoint ' + state.mountpoint + '\n' +
          'state     ' + state.phase + ', ICE ' + state.iceState +
            (state.error ? ' (failed: ' + state.error + ')' : '') + '\n' +
          'codec     ' + (state.codec || '-') + '\n' +
          'fps       ' + fmt(state.fps, 1) + ' (' + state.framesDecoded + ' decoded)\n' +
          'bitrate   ' + fmt(state.kbps, 0) + ' kbit/s\n' +
          'jitter    ' + fmt(state.jitterMs, 1) + ' ms\n' +
          'lost      ' + state.packetsLost + ' packets\n' +
          'rtt       ' + fmt(state.rttMs, 1) + ' ms (ICE)\n' +
          'frame     ' + state.width + 'x' + state.height + '\n' +
          'input     over the WebSocket (/ws)';
      },
    };
  }

  window.sbWebrtc = { start };
})();
