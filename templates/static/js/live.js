/* Live calls: keeps the page's calls and transcripts current over the tenant's WebSocket
   (calls.live.LiveCallsConsumer). No inline handlers, no innerHTML: every text goes through
   textContent. New calls are cloned from the page's <template>, so markup lives in one place. */
(function () {
  "use strict";

  var root = document.getElementById("live-calls");
  if (!root) return;
  var template = document.getElementById("live-call-template");
  var empty = document.getElementById("live-empty");
  var status = document.getElementById("live-status");
  var retryMs = 1000;
  // Exposed for tests and curious people: what the page has received.
  var state = (window.liveCalls = { messages: 0, connected: false, calls: {} });

  function setStatus(kind, text) {
    if (!status) return;
    status.setAttribute("data-state", kind);
    status.textContent = text;
  }

  function cardFor(id) {
    return root.querySelector('[data-call="' + CSS.escape(id) + '"]');
  }

  function field(card, name) {
    return card.querySelector('[data-field="' + name + '"]');
  }

  function formatTimes(scope) {
    scope.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when.getTime())) el.textContent = when.toLocaleTimeString();
    });
  }

  function refreshEmpty() {
    if (empty) empty.hidden = root.querySelector(".live-call") !== null;
  }

  function addCard(call) {
    var card = cardFor(call.id);
    if (card) return card;
    card = template.content.firstElementChild.cloneNode(true);
    card.setAttribute("data-call", call.id);
    card.setAttribute("aria-labelledby", "live-title-" + call.id);
    card.querySelector("h2").id = "live-title-" + call.id;
    var title = field(card, "title");
    title.textContent = call.title;
    title.setAttribute("href", call.detail_url);
    ["agent", "direction_label", "engine"].forEach(function (name) {
      field(card, name).textContent = call[name] || "";
    });
    var time = field(card, "answered_at");
    time.setAttribute("datetime", call.answered_at);
    var hangup = card.querySelector('form[data-action="hangup"]');
    if (hangup) hangup.setAttribute("action", call.hangup_url);
    var transfer = card.querySelector('form[data-action="transfer"]');
    if (transfer) {
      transfer.setAttribute("action", call.transfer_url);
      transfer.hidden = !call.can_transfer;
    }
    var noTransfer = field(card, "no_transfer");
    if (noTransfer) {
      noTransfer.hidden = call.can_transfer;
      noTransfer.textContent = call.direction === "web" ? "Web test calls cannot be transferred." : "No transfer number.";
    }
    root.insertBefore(card, root.firstChild);
    formatTimes(card);
    refreshEmpty();
    return card;
  }

  function addSegment(card, segment) {
    var list = card.querySelector(".live-transcript");
    var key = segment.speaker + ":" + segment.ordinal;
    if (list.querySelector('[data-key="' + CSS.escape(key) + '"]')) return; // already shown
    var agent = segment.speaker === "agent";
    var item = document.createElement("li");
    item.className = "msg " + (agent ? "agent" : "caller");
    item.setAttribute("data-key", key);
    item.setAttribute("data-start", String(segment.start_ms));
    var avatar = document.createElement("span");
    avatar.className = "avatar";
    avatar.setAttribute("aria-hidden", "true");
    avatar.textContent = agent ? "AI" : "C";
    var body = document.createElement("div");
    var meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = agent ? "Agent" : "Caller";
    var bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.textContent = segment.text;
    body.appendChild(meta);
    body.appendChild(bubble);
    item.appendChild(avatar);
    item.appendChild(body);
    insertInOrder(list, item, segment.start_ms);
    var waiting = card.querySelector(".live-waiting");
    if (waiting) waiting.hidden = true;
  }

  var EVENT_TEXT = {
    stage_changed: function (e) { return "Stage: " + e.label; },
    tool_call: function (e) { return "Tool call: " + e.label; },
    interruption: function () { return "The caller interrupted the agent"; },
    operator_hangup: function () { return "Hung up from the dashboard"; },
    operator_transfer: function () { return "Transfer requested from the dashboard"; },
    transferred: function () { return "Transferred"; }
  };

  function addEvent(card, event) {
    var text = EVENT_TEXT[event.type];
    if (!text) return;
    var list = card.querySelector(".live-transcript");
    var item = document.createElement("li");
    item.className = "event";
    item.setAttribute("data-start", String(event.at_ms));
    item.textContent = text(event);
    insertInOrder(list, item, event.at_ms);
  }

  function insertInOrder(list, item, startMs) {
    var after = null;
    var children = list.children;
    for (var i = children.length - 1; i >= 0; i--) {
      if (Number(children[i].getAttribute("data-start")) <= startMs) { after = children[i]; break; }
    }
    var stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
    list.insertBefore(item, after ? after.nextSibling : list.firstChild);
    if (stick) list.scrollTop = list.scrollHeight;
  }

  var ENDED_TEXT = { transferred: "Transferred", agent_hangup: "Ended by the agent", caller_hangup: "Caller hung up" };

  function markEnded(id, reason) {
    var card = cardFor(id);
    if (!card || card.classList.contains("ended")) return;
    card.classList.add("ended");
    field(card, "state").textContent = ENDED_TEXT[reason] || "Ended";
    card.querySelectorAll(".live-actions button").forEach(function (b) { b.disabled = true; });
  }

  function onMessage(data) {
    state.messages += 1;
    if (data.kind === "snapshot") {
      var live = {};
      data.calls.forEach(function (call) {
        live[call.id] = true;
        var card = addCard(call);
        call.segments.forEach(function (s) { addSegment(card, s); });
      });
      root.querySelectorAll(".live-call").forEach(function (card) {
        var id = card.getAttribute("data-call");
        if (!live[id]) markEnded(id, "");
      });
    } else if (data.kind === "started") {
      addCard(data.call);
    } else if (data.kind === "transcript") {
      var card = cardFor(data.call);
      if (!card) return; // a call that started before this page and ended meanwhile
      data.segments.forEach(function (s) { addSegment(card, s); });
      (data.events || []).forEach(function (e) { addEvent(card, e); });
    } else if (data.kind === "ended") {
      markEnded(data.call, data.reason);
    }
    state.calls = {};
    root.querySelectorAll(".live-call").forEach(function (card) {
      state.calls[card.getAttribute("data-call")] = !card.classList.contains("ended");
    });
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + root.getAttribute("data-ws-path"));
    socket.addEventListener("open", function () {
      retryMs = 1000;
      state.connected = true;
      setStatus("open", "Live");
    });
    socket.addEventListener("message", function (event) {
      try { onMessage(JSON.parse(event.data)); } catch (err) { console.error("live update", err); }
    });
    socket.addEventListener("close", function () {
      state.connected = false;
      setStatus("closed", "Reconnecting…");
      window.setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
    });
  }

  formatTimes(root);
  refreshEmpty();
  connect();
})();
