/* "Talk to this agent": the browser plays the phone's part of a call (calls.softphone).

   Capture: getUserMedia -> AudioWorklet (softphone-worklet.js; ScriptProcessor where worklets are
   missing) -> downsample to 8 kHz -> G.711 mu-law -> one binary WebSocket message per 20 ms.
   Playback: agent audio (binary mu-law 8 kHz) is scheduled back to back with Web Audio; a mark
   from the server is echoed when the audio sent before it has played (so the server knows what
   the caller really heard); "clear" (the caller barged in) stops playback at once and echoes every
   pending mark, like Twilio. No inline handlers; every text goes through textContent.
   window.softphoneState exposes the counters (tests read them). */
(function () {
  "use strict";

  var root = document.getElementById("softphone");
  if (!root) return;

  var FRAME_BYTES = 160; // 20 ms at 8 kHz
  var OUT_RATE = 8000;
  var LEAD_S = 0.06; // first agent audio starts this far ahead of "now" (no underrun click)

  function el(name) { return root.querySelector('[data-phone="' + name + '"]'); }
  var startButton = el("start");
  var hangupButton = el("hangup");
  var statusEl = el("status");
  var meterEl = el("meter");
  var transcriptEl = el("transcript");
  var waitingEl = el("waiting");
  var linkEl = el("link");
  var clockEl = el("clock");
  var playedEl = el("played");

  var state = (window.softphoneState = {
    status: "idle", callId: null, error: null, closeCode: null, capture: null,
    framesSent: 0, framesReceived: 0, bytesReceived: 0, framesPlayed: 0, bytesPlayed: 0,
    marksReceived: 0, marksEchoed: 0, clears: 0, transcript: []
  });

  var ctx = null, stream = null, source = null, captureNode = null, sink = null, socket = null;
  var downsampler = null, pending = new Uint8Array(FRAME_BYTES), pendingLength = 0;
  var playhead = 0, scheduled = [], nextSeq = 1, playedSeq = 0, marks = [];
  var startedAt = 0, clockTimer = null;

  function setStatus(status, text) {
    state.status = status;
    statusEl.textContent = text;
  }

  // ---------------------------------------------------------------------------- encoding

  // G.711 mu-law (the classic bias-and-segment encoder).
  function linearToMulaw(sample) {
    var BIAS = 0x84, CLIP = 32635;
    var sign = (sample >> 8) & 0x80;
    if (sign) sample = -sample;
    if (sample > CLIP) sample = CLIP;
    sample += BIAS;
    var exponent = 7;
    for (var mask = 0x4000; (sample & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
    var mantissa = (sample >> (exponent + 3)) & 0x0f;
    return ~(sign | (exponent << 4) | mantissa) & 0xff;
  }

  var MULAW_TO_FLOAT = new Float32Array(256);
  (function () {
    for (var i = 0; i < 256; i++) {
      var u = ~i & 0xff;
      var sign = u & 0x80, exponent = (u >> 4) & 0x07, mantissa = u & 0x0f;
      var magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
      MULAW_TO_FLOAT[i] = (sign ? -magnitude : magnitude) / 32768;
    }
  })();

  // Averages each output sample's window of input samples: a box low-pass before decimation,
  // enough for speech at 8 kHz. Keeps its fractional position across chunks (no clicks).
  function Downsampler(inRate) {
    this.ratio = inRate / OUT_RATE;
    this.carry = new Float32Array(0);
    this.position = 0;
  }
  Downsampler.prototype.process = function (input) {
    var buffer = new Float32Array(this.carry.length + input.length);
    buffer.set(this.carry);
    buffer.set(input, this.carry.length);
    var out = [];
    var ratio = this.ratio, position = this.position;
    while (position + ratio <= buffer.length) {
      var start = Math.floor(position), end = Math.max(start + 1, Math.floor(position + ratio));
      var sum = 0;
      for (var i = start; i < end; i++) sum += buffer[i];
      out.push(sum / (end - start));
      position += ratio;
    }
    var keep = Math.floor(position);
    this.carry = buffer.slice(keep);
    this.position = position - keep;
    return out;
  };

  function onCaptured(samples) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    var energy = 0;
    for (var i = 0; i < samples.length; i++) energy += samples[i] * samples[i];
    meterEl.style.width = Math.min(100, Math.sqrt(energy / Math.max(1, samples.length)) * 400) + "%";
    var down = downsampler.process(samples);
    for (var j = 0; j < down.length; j++) {
      var value = Math.max(-1, Math.min(1, down[j]));
      pending[pendingLength++] = linearToMulaw(Math.round(value * 32767));
      if (pendingLength === FRAME_BYTES) {
        socket.send(pending.buffer.slice(0));
        state.framesSent += 1;
        pendingLength = 0;
      }
    }
  }

  async function startCapture() {
    source = ctx.createMediaStreamSource(stream);
    downsampler = new Downsampler(ctx.sampleRate);
    sink = ctx.createGain();
    sink.gain.value = 0; // capture nodes must reach the destination to be pulled; silently
    sink.connect(ctx.destination);
    if (ctx.audioWorklet && window.AudioWorkletNode) {
      try {
        await ctx.audioWorklet.addModule(root.getAttribute("data-worklet-url"));
        captureNode = new AudioWorkletNode(ctx, "softphone-capture");
        captureNode.port.onmessage = function (event) { onCaptured(event.data); };
        state.capture = "worklet";
      } catch (err) {
        console.warn("AudioWorklet unavailable, using ScriptProcessor", err);
        captureNode = null;
      }
    }
    if (!captureNode) {
      captureNode = ctx.createScriptProcessor(1024, 1, 1);
      captureNode.onaudioprocess = function (event) {
        onCaptured(new Float32Array(event.inputBuffer.getChannelData(0)));
      };
      state.capture = "script-processor";
    }
    source.connect(captureNode);
    captureNode.connect(sink);
  }

  // ---------------------------------------------------------------------------- playback

  function play(bytes) {
    state.framesReceived += 1;
    state.bytesReceived += bytes.length;
    var buffer = ctx.createBuffer(1, bytes.length, OUT_RATE);
    var channel = buffer.getChannelData(0);
    for (var i = 0; i < bytes.length; i++) channel[i] = MULAW_TO_FLOAT[bytes[i]];
    var node = ctx.createBufferSource();
    node.buffer = buffer;
    node.connect(ctx.destination);
    var at = Math.max(playhead, ctx.currentTime + LEAD_S);
    var entry = { node: node, seq: nextSeq++, bytes: bytes.length, cleared: false };
    node.onended = function () { played(entry); };
    node.start(at);
    playhead = at + buffer.duration;
    scheduled.push(entry);
  }

  function played(entry) {
    var index = scheduled.indexOf(entry);
    if (index >= 0) scheduled.splice(index, 1);
    if (entry.cleared) return;
    state.framesPlayed += 1;
    state.bytesPlayed += entry.bytes;
    playedEl.textContent = String(state.framesPlayed);
    playedSeq = Math.max(playedSeq, entry.seq);
    echoMarks(false);
  }

  function sendMark(name) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ event: "mark", name: name }));
      state.marksEchoed += 1;
    }
  }

  // A mark is echoed once every audio chunk scheduled before it has ended (or on clear).
  function echoMarks(all) {
    while (marks.length && (all || marks[0].afterSeq <= playedSeq)) sendMark(marks.shift().name);
  }

  function onMark(name) {
    state.marksReceived += 1;
    marks.push({ name: name, afterSeq: nextSeq - 1 });
    echoMarks(false);
  }

  function clearPlayback() {
    state.clears += 1;
    scheduled.forEach(function (entry) {
      entry.cleared = true;
      try { entry.node.stop(); } catch (err) { /* not started yet */ }
    });
    scheduled = [];
    playedSeq = nextSeq - 1;
    playhead = 0;
    echoMarks(true);
  }

  // -------------------------------------------------------------------------- transcript

  function addLines(segments) {
    segments.forEach(function (segment) {
      var key = segment.speaker + ":" + segment.ordinal;
      if (transcriptEl.querySelector('[data-key="' + CSS.escape(key) + '"]')) return;
      var agent = segment.speaker === "agent";
      var item = document.createElement("li");
      item.className = "msg " + (agent ? "agent" : "caller");
      item.setAttribute("data-key", key);
      var avatar = document.createElement("span");
      avatar.className = "avatar";
      avatar.setAttribute("aria-hidden", "true");
      avatar.textContent = agent ? "AI" : "You";
      var body = document.createElement("div");
      var meta = document.createElement("div");
      meta.className = "meta";
      meta.textContent = agent ? "Agent" : "You";
      var bubble = document.createElement("div");
      bubble.className = "bubble";
      bubble.textContent = segment.text;
      body.appendChild(meta);
      body.appendChild(bubble);
      item.appendChild(avatar);
      item.appendChild(body);
      transcriptEl.appendChild(item);
      transcriptEl.scrollTop = transcriptEl.scrollHeight;
      state.transcript.push({ speaker: segment.speaker, text: segment.text });
    });
    waitingEl.hidden = transcriptEl.children.length > 0;
  }

  // ------------------------------------------------------------------------------ socket

  function onText(message) {
    if (message.event === "mark") onMark(String(message.name));
    else if (message.event === "clear") clearPlayback();
    else if (message.event === "transcript") addLines(message.segments || []);
    else if (message.event === "call") {
      state.callId = message.call;
      var link = linkEl.querySelector("a");
      link.setAttribute("href", message.detail_url);
      linkEl.hidden = false;
      setStatus("connected", "Connected to " + message.agent);
    } else if (message.event === "hangup") setStatus("ending", "The agent ended the call");
    else if (message.event === "error") {
      state.error = message.message;
      setStatus("error", message.message);
    }
  }

  function tick() {
    var seconds = Math.floor((Date.now() - startedAt) / 1000);
    clockEl.textContent = Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
  }

  async function start() {
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      state.error = "insecure";
      setStatus("error", "The microphone needs a secure page: open the dashboard over HTTPS.");
      return;
    }
    startButton.disabled = true;
    setStatus("starting", "Starting…");
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true }
      });
    } catch (err) {
      state.error = String(err && err.name);
      setStatus("error", "No microphone: " + (err && err.message ? err.message : err));
      startButton.disabled = false;
      return;
    }
    if (ctx) ctx.close(); // the previous call's
    ctx = new (window.AudioContext || window.webkitAudioContext)();
    scheduled = []; marks = []; playhead = 0; nextSeq = 1; playedSeq = 0; pendingLength = 0;
    await ctx.resume();
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + root.getAttribute("data-ws-path"));
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", function () {
      socket.send(JSON.stringify({ event: "start", encoding: "audio/x-mulaw", sampleRate: OUT_RATE }));
      startCapture().catch(function (err) {
        state.error = String(err);
        setStatus("error", "Could not capture the microphone.");
        hangUp();
      });
      startedAt = Date.now();
      clockTimer = window.setInterval(tick, 500);
      hangupButton.disabled = false;
      setStatus("connecting", "Calling…");
    });
    socket.addEventListener("message", function (event) {
      if (typeof event.data === "string") {
        try { onText(JSON.parse(event.data)); } catch (err) { console.error("softphone message", err); }
      } else {
        play(new Uint8Array(event.data));
      }
    });
    var opened = false;
    socket.addEventListener("open", function () { opened = true; });
    socket.addEventListener("close", function (event) {
      state.closeCode = event.code;
      if (state.status !== "error") {
        if (!opened) {
          // The server refuses the handshake itself (signed out, no permission, unpublished).
          setStatus("ended", "The call could not be connected. Reload the page and try again.");
        } else if (state.status === "ending") {
          setStatus("ended", "The agent ended the call");
        } else if (event.code === 1013) {
          setStatus("ended", "The server is restarting: try again in a moment.");
        } else if (event.code === 1011) {
          setStatus("ended", "The call failed on the server.");
        } else {
          setStatus("ended", "Call ended");
        }
      }
      stopCapture();
    });
  }

  function stopCapture() {
    if (captureNode) {
      if (captureNode.port) captureNode.port.postMessage("stop");
      captureNode.disconnect();
      captureNode = null;
    }
    if (source) { source.disconnect(); source = null; }
    if (stream) { stream.getTracks().forEach(function (track) { track.stop(); }); stream = null; }
    if (clockTimer) { window.clearInterval(clockTimer); clockTimer = null; }
    meterEl.style.width = "0";
    hangupButton.disabled = true;
    startButton.disabled = false;
    socket = null;
  }

  function hangUp() {
    if (!socket) return;
    if (socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ event: "stop" }));
      socket.close(1000);
    }
    clearPlayback();
    setStatus("ended", "Call ended");
  }

  startButton.addEventListener("click", function () { start(); });
  hangupButton.addEventListener("click", hangUp);
  window.addEventListener("pagehide", hangUp);
})();
