/*
 * Interact website chat widget (SPEC §3.3). Plain JavaScript, no build step, no framework.
 *
 *   <script src="https://ingest.example.com/sdk/widget.js" data-channel="PUBLIC_KEY" async></script>
 *
 * Optional attributes: data-title (header text), data-visitor-name, data-open="true".
 * The protocol (hello/welcome, seq, acks, close codes) is described in docs/webchat-sdk.md.
 * Visitor -> us: each message gets a seq and a client id and waits in localStorage until
 * the server acks it (after Kafka has it); it is resent after a reconnect.
 * Us -> visitor: the server numbers our messages per visitor; the widget says the last
 * seq it saw when it reconnects and ignores anything it already has.
 * Files: the paper-clip button uploads one (POST /v1/webchat/{key}/files, the bytes as the
 * body; CORS from the channel's allowed origins); its client id makes a retry the same
 * message. Files of replies arrive in the message frame with short-lived links.
 */
(function () {
  "use strict";
  var CLIP_SVG = "<svg class='clip' viewBox='0 0 24 24' aria-hidden='true' fill='none' " +
    "stroke='currentColor' stroke-width='2' stroke-linecap='round'>" +
    "<path d='M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5'/></svg>";

  var script = document.currentScript;
  if (!script || !script.getAttribute("data-channel")) {
    console.error("Interact chat: the script tag needs data-channel=\"<public key>\"");
    return;
  }
  var key = script.getAttribute("data-channel");
  var title = script.getAttribute("data-title") || "Chat with us";
  var visitorName = script.getAttribute("data-visitor-name") || null;
  var root = new URL(script.src, location.href).href.replace(/\/sdk\/widget\.js([?#].*)?$/, "");
  var socketUrl = root.replace(/^http/, "ws") + "/v1/webchat/" + encodeURIComponent(key) + "/ws";
  var uploadUrl = root + "/v1/webchat/" + encodeURIComponent(key) + "/files";

  var FINAL_CLOSE_CODES = [4403, 4404];
  var PING_EVERY_MS = 15000;
  var SILENCE_LIMIT_MS = 40000;
  var TRANSCRIPT_LIMIT = 200;
  var UPLOAD_ATTEMPTS = 5;

  // --- storage: localStorage when the page may use it, memory otherwise ------------------
  var prefix = "interact-chat:" + key + ":";
  var memory = {};
  function load(name, fallback) {
    var raw;
    try {
      raw = window.localStorage.getItem(prefix + name);
    } catch (e) {
      raw = memory[name];
    }
    if (raw === null || raw === undefined) return fallback;
    try {
      return JSON.parse(raw);
    } catch (e) {
      return fallback;
    }
  }
  function save(name, value) {
    var raw = JSON.stringify(value);
    try {
      window.localStorage.setItem(prefix + name, raw);
    } catch (e) {
      memory[name] = raw;
    }
  }
  function newId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" +
      hex.slice(16, 20) + "-" + hex.slice(20);
  }

  var visitorId = load("visitor", null);
  if (!visitorId) {
    visitorId = newId();
    save("visitor", visitorId);
  }
  var outbox = load("outbox", []);          // [{seq, client_id, text}] not yet acked
  var nextSeq = load("next_seq", 1);        // the seq of the visitor's next message
  var lastSeq = load("last_seq", 0);        // the last of our messages the visitor has
  var transcript = load("transcript", []);  // [{from, text, seq, client_id, pending, file(s)}]
  // An upload of an earlier page that never got its answer: the file is not in storage (too
  // large for it), so it cannot go again by itself; the visitor is told to send it again.
  transcript.forEach(function (t) {
    if (t.upload && t.pending) {
      t.pending = false;
      t.failed = "Not sent (the page was closed); please send it again.";
    }
  });
  save("transcript", transcript);

  // --- connection ----------------------------------------------------------------------
  var socket = null;
  var ready = false;
  var status = "connecting";
  var attempts = 0;
  var lastHeard = 0;
  var reconnectTimer = null;
  var pingTimer = null;
  var isOpen = script.getAttribute("data-open") === "true";

  function setStatus(value) {
    status = value;
    render();
  }

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    ready = false;
    setStatus(status === "unavailable" ? status : "connecting");
    var ws = new WebSocket(socketUrl);
    socket = ws;
    ws.onopen = function () {
      lastHeard = Date.now();
      var hello = { type: "hello", visitor_id: visitorId, last_seq: lastSeq };
      if (visitorName) hello.visitor_name = visitorName;
      var locale = (navigator.language || "").replace(/[^A-Za-z_-]/g, "");
      if (/^[A-Za-z]{2,3}([_-][A-Za-z]{2,4})?$/.test(locale)) hello.locale = locale;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = function (event) {
      if (ws !== socket) return;
      lastHeard = Date.now();
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      onFrame(frame);
    };
    ws.onclose = function (event) {
      if (ws !== socket) return;
      ready = false;
      socket = null;
      if (FINAL_CLOSE_CODES.indexOf(event.code) >= 0) {
        setStatus("unavailable");
        return;
      }
      setStatus("offline");
      scheduleReconnect();
    };
    ws.onerror = function () { /* onclose follows */ };
  }

  function scheduleReconnect(delay) {
    if (reconnectTimer !== null || status === "unavailable") return;
    if (delay === undefined) {
      delay = Math.min(10000, 500 * Math.pow(2, attempts)) * (0.5 + Math.random() / 2);
      attempts += 1;
    }
    reconnectTimer = setTimeout(connect, delay);
  }

  // A connection that went silent (a dead network path) is dropped and replaced at once:
  // waiting for the browser to notice can take minutes.
  function abandon() {
    var old = socket;
    socket = null;
    ready = false;
    if (old) {
      old.onclose = old.onmessage = old.onopen = null;
      try { old.close(); } catch (e) { /* already gone */ }
    }
    setStatus("offline");
    scheduleReconnect(0);
  }

  function heartbeat() {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    if (Date.now() - lastHeard > SILENCE_LIMIT_MS) {
      abandon();
      return;
    }
    socket.send(JSON.stringify({ type: "ping" }));
  }

  function sendFrame(frame) {
    if (ready && socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(frame));
    }
  }

  function onFrame(frame) {
    if (frame.type === "welcome") {
      if (typeof frame.last_seq === "number" && frame.last_seq < lastSeq) {
        lastSeq = frame.last_seq;  // the server's mailbox was reset: take it from there
        save("last_seq", lastSeq);
      }
      ready = true;
      attempts = 0;
      refresh();
      setStatus("online");
      outbox.forEach(function (m) {
        sendFrame({ type: "message", seq: m.seq, client_id: m.client_id, text: m.text });
      });
      if (isOpen) markSeen();
    } else if (frame.type === "ack") {
      refresh();
      outbox = outbox.filter(function (m) { return m.client_id !== frame.client_id; });
      save("outbox", outbox);
      transcript.forEach(function (t) {
        if (t.client_id === frame.client_id) t.pending = false;
      });
      save("transcript", transcript);
      render();
    } else if (frame.type === "message") {
      refresh();
      if (typeof frame.seq !== "number" || frame.seq <= lastSeq) {  // already have it
        render();
        return;
      }
      lastSeq = frame.seq;
      save("last_seq", lastSeq);
      var entry = { from: frame.author || "agent", text: frame.text || "", seq: frame.seq };
      var files = replyFiles(frame.attachments);
      if (files.length) entry.files = files;
      remember(entry);
      if (isOpen) markSeen();
    } else if (frame.type === "error") {
      console.warn("Interact chat:", frame.code, frame.message);
      if (frame.code === "rate_limited" && frame.client_id) {
        // Not taken: it stays in the outbox and goes again once the window has passed.
        setTimeout(function () {
          outbox.forEach(function (m) {
            if (m.client_id === frame.client_id) {
              sendFrame({ type: "message", seq: m.seq, client_id: m.client_id, text: m.text });
            }
          });
        }, (frame.retry_after || 1) * 1000);
      }
    }
  }

  // Another tab of the same site may have changed the stored state: start from it.
  function refresh() {
    outbox = load("outbox", []);
    nextSeq = Math.max(nextSeq, load("next_seq", 1));
    lastSeq = Math.max(lastSeq, load("last_seq", 0));
    transcript = load("transcript", []);
  }

  function remember(entry) {
    transcript.push(entry);
    if (transcript.length > TRANSCRIPT_LIMIT) transcript = transcript.slice(-TRANSCRIPT_LIMIT);
    save("transcript", transcript);
    render();
  }

  function markSeen() {
    if (lastSeq > 0) sendFrame({ type: "seen", seq: lastSeq });
  }

  function send(text) {
    text = String(text || "").trim();
    if (!text) return false;
    if (text.length > 4000) text = text.slice(0, 4000);
    refresh();
    var message = { seq: nextSeq, client_id: newId(), text: text };
    nextSeq += 1;
    save("next_seq", nextSeq);
    outbox.push(message);
    save("outbox", outbox);
    remember({ from: "visitor", text: text, seq: message.seq, client_id: message.client_id,
      pending: true });
    sendFrame({ type: "message", seq: message.seq, client_id: message.client_id, text: text });
    return true;
  }

  // --- files ---------------------------------------------------------------------------
  // Links of reply files are paths on ingest, signed for this visitor and short-lived.
  function ours(path) {
    return typeof path === "string" && path.charAt(0) === "/" ? root + path : null;
  }
  function replyFiles(attachments) {
    if (!Array.isArray(attachments)) return [];
    return attachments.filter(function (a) { return a && ours(a.url); }).map(function (a) {
      return {
        id: String(a.attachment_id || ""),
        name: String(a.file_name || "file"),
        kind: a.kind,
        size: a.size,
        url: ours(a.url),
        thumbnail_url: ours(a.thumbnail_url)
      };
    });
  }

  // A transcript read back later holds links that have expired (minutes): new ones are
  // asked for the file of this visitor's mailbox before it is shown again.
  var refreshing = {};
  function expired(link) {
    var found = /[?&]expires=(\d+)/.exec(link || "");
    return !!found && Number(found[1]) * 1000 < Date.now() + 10000;
  }
  function refreshLinks(f) {
    if (!f.id || refreshing[f.id]) return;
    refreshing[f.id] = true;
    var url = root + "/v1/webchat/" + encodeURIComponent(key) + "/files/" +
      encodeURIComponent(f.id) + "/links?visitor_id=" + encodeURIComponent(visitorId);
    window.fetch(url, { mode: "cors", credentials: "omit" }).then(function (response) {
      if (response.status !== 200 && response.status !== 404) throw new Error("retry later");
      return response.status === 200 ? response.json() : null;
    }).then(function (links) {
      refresh();
      transcript.forEach(function (t) {
        (t.files || []).forEach(function (g) {
          if (g.id !== f.id) return;
          if (!links) {
            g.gone = true;  // erased, or no longer in this visitor's mailbox
          } else {
            g.url = ours(links.url);
            g.thumbnail_url = ours(links.thumbnail_url);
          }
        });
      });
      save("transcript", transcript);
      delete refreshing[f.id];
      render();
    }, function () {
      setTimeout(function () { delete refreshing[f.id]; }, 30000);
    });
  }

  function settleUpload(clientId, error, accepted) {
    refresh();
    transcript.forEach(function (t) {
      if (t.client_id !== clientId) return;
      t.pending = false;
      t.failed = error || undefined;
      if (accepted && t.file) {
        t.file.size = accepted.size;
        t.file.content_type = accepted.content_type;
      }
    });
    save("transcript", transcript);
    render();
  }

  // Network errors, 429 and 5xx are tried again (the same client id: never twice in the
  // conversation); any other answer is final and says why (too large, type not accepted...).
  function upload(file, clientId, attempt) {
    var query = "?visitor_id=" + encodeURIComponent(visitorId) +
      "&client_id=" + encodeURIComponent(clientId) +
      "&file_name=" + encodeURIComponent(file.name || "file");
    function again(seconds) {
      if (attempt + 1 >= UPLOAD_ATTEMPTS) {
        settleUpload(clientId, "Not sent: the chat cannot be reached; please try again.");
        return;
      }
      var delay = seconds ? seconds * 1000 : Math.min(10000, 1000 * Math.pow(2, attempt));
      setTimeout(function () { upload(file, clientId, attempt + 1); }, delay);
    }
    window.fetch(uploadUrl + query, {
      method: "POST",
      body: file,
      headers: { "Content-Type": file.type || "application/octet-stream" },
      mode: "cors",
      credentials: "omit"
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (response.status === 202) {
          settleUpload(clientId, null, body);
        } else if (response.status === 429 || response.status >= 500) {
          again(Number(response.headers.get("Retry-After")) || 0);
        } else {
          var error = body && body.error ? body.error.message : "HTTP " + response.status;
          console.warn("Interact chat: file refused", body && body.error);
          settleUpload(clientId, "Not sent: " + error);
        }
      });
    }, function () { again(0); });
  }

  function sendFile(file) {
    if (!file || status === "unavailable") return false;
    refresh();
    var clientId = newId();
    remember({ from: "visitor", text: "", client_id: clientId, pending: true, upload: true,
      file: { name: String(file.name || "file"), size: file.size } });
    upload(file, clientId, 0);
    return true;
  }

  function sizeLabel(bytes) {
    if (typeof bytes !== "number") return "";
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return Math.round(bytes / 1024) + " kB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  // --- the widget on the page (a shadow root keeps the site's styles out) ---------------
  var host = document.createElement("div");
  host.setAttribute("data-interact-chat", "");
  var shadow = host.attachShadow({ mode: "open" });
  shadow.innerHTML =
    "<style>" +
    ":host{all:initial;position:fixed;right:16px;bottom:16px;z-index:2147483000;" +
    "font:14px/1.4 system-ui,sans-serif;color:#1d1d1f}" +
    ".launcher{border:0;border-radius:24px;padding:12px 18px;background:#2456d3;color:#fff;" +
    "font:inherit;cursor:pointer;box-shadow:0 2px 8px rgba(0,0,0,.25)}" +
    ".panel{display:none;flex-direction:column;width:320px;height:420px;background:#fff;" +
    "border-radius:12px;box-shadow:0 4px 24px rgba(0,0,0,.25);overflow:hidden}" +
    ".panel.open{display:flex}" +
    "header{display:flex;justify-content:space-between;align-items:center;padding:10px 12px;" +
    "background:#2456d3;color:#fff}" +
    "header button{border:0;background:transparent;color:#fff;font-size:18px;cursor:pointer}" +
    ".status{font-size:12px;opacity:.85;margin-left:8px}" +
    ".messages{flex:1;overflow-y:auto;padding:10px;display:flex;flex-direction:column;gap:6px}" +
    ".msg{max-width:80%;padding:6px 10px;border-radius:10px;white-space:pre-wrap;" +
    "word-wrap:break-word}" +
    ".msg.visitor{align-self:flex-end;background:#2456d3;color:#fff}" +
    ".msg.visitor.pending{opacity:.6}" +
    ".msg.agent,.msg.bot,.msg.system{align-self:flex-start;background:#eef0f4}" +
    "form{display:flex;border-top:1px solid #e3e5ea}" +
    "input{flex:1;border:0;padding:10px;font:inherit;outline:none}" +
    ".file{display:block;color:inherit}" +
    "svg.clip{width:1em;height:1em;vertical-align:-0.15em;margin-right:3px}" +
    ".file img{display:block;max-width:100%;border-radius:6px;margin-bottom:4px}" +
    ".failed{display:block;font-size:12px;margin-top:4px;opacity:.9}" +
    ".msg.visitor.refused{background:#b3261e}" +
    "form button{border:0;background:transparent;color:#2456d3;font:inherit;font-weight:600;" +
    "padding:0 12px;cursor:pointer}" +
    "</style>" +
    "<button class='launcher' type='button' data-testid='interact-chat-launcher'></button>" +
    "<div class='panel' role='dialog'>" +
    "<header><span><strong class='title'></strong>" +
    "<span class='status' data-testid='interact-chat-status'></span></span>" +
    "<button type='button' class='close' aria-label='Close'>&times;</button></header>" +
    "<div class='messages' aria-live='polite'></div>" +
    "<form><button type='button' class='attach' aria-label='Send a file' title='Send a file' " +
    "data-testid='interact-chat-attach'>" + CLIP_SVG + "</button>" +
    "<input type='file' hidden data-testid='interact-chat-file-input'>" +
    "<input type='text' maxlength='4000' placeholder='Type a message…' " +
    "aria-label='Message' data-testid='interact-chat-input'>" +
    "<button type='submit' data-testid='interact-chat-send'>Send</button></form></div>";

  var launcher = shadow.querySelector(".launcher");
  var panel = shadow.querySelector(".panel");
  var list = shadow.querySelector(".messages");
  var statusLabel = shadow.querySelector(".status");
  var input = shadow.querySelector("input[type=text]");
  var picker = shadow.querySelector("input[type=file]");
  var attach = shadow.querySelector(".attach");
  launcher.textContent = title;
  shadow.querySelector(".title").textContent = title;

  function setOpen(open) {
    isOpen = open;
    if (open && ready) markSeen();
    render();
    if (open) input.focus();
  }
  launcher.addEventListener("click", function () { setOpen(true); });
  shadow.querySelector(".close").addEventListener("click", function () { setOpen(false); });
  attach.addEventListener("click", function () { picker.click(); });
  picker.addEventListener("change", function () {
    Array.prototype.forEach.call(picker.files || [], function (file) { sendFile(file); });
    picker.value = "";
  });
  shadow.querySelector("form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (send(input.value)) input.value = "";
  });

  function render() {
    if (!list) return;
    panel.classList.toggle("open", isOpen);
    launcher.style.display = isOpen ? "none" : "";
    statusLabel.textContent = status;
    host.setAttribute("data-status", status);
    input.disabled = attach.disabled = status === "unavailable";
    list.textContent = "";
    transcript.forEach(function (t) {
      var item = document.createElement("div");
      item.className = "msg " + (t.from === "visitor" ? "visitor" : t.from) +
        (t.pending ? " pending" : "") + (t.failed ? " refused" : "");
      item.setAttribute("data-testid", "interact-chat-message");
      item.setAttribute("data-from", t.from);
      if (t.file) item.appendChild(sentFile(t));
      (t.files || []).forEach(function (f) { item.appendChild(receivedFile(f)); });
      if (t.text) item.appendChild(document.createTextNode(t.text));
      list.appendChild(item);
    });
    list.scrollTop = list.scrollHeight;
  }

  // A paper clip drawn here, not the emoji: a system without an emoji font showed a box.
  function clip() {
    var holder = document.createElement("span");
    holder.innerHTML = CLIP_SVG;
    return holder.firstChild;
  }

  function sentFile(t) {
    var box = document.createElement("span");
    box.className = "file";
    box.setAttribute("data-testid", "interact-chat-sent-file");
    box.appendChild(clip());
    box.appendChild(document.createTextNode(t.file.name + " (" + sizeLabel(t.file.size) + ")"));
    if (t.failed) {
      var why = document.createElement("span");
      why.className = "failed";
      why.setAttribute("data-testid", "interact-chat-file-error");
      why.textContent = t.failed;
      box.appendChild(why);
    }
    return box;
  }

  function receivedFile(f) {
    if (f.gone || expired(f.url)) {
      if (!f.gone) refreshLinks(f);
      var name = document.createElement("span");
      name.className = "file";
      name.setAttribute("data-testid", "interact-chat-file-unavailable");
      name.appendChild(clip());
      name.appendChild(document.createTextNode(f.name + (f.gone ? " (no longer available)" : "")));
      return name;
    }
    var link = document.createElement("a");
    link.className = "file";
    link.href = f.url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    link.setAttribute("data-testid", "interact-chat-file");
    if (f.thumbnail_url) {
      var image = document.createElement("img");
      image.src = f.thumbnail_url;
      image.alt = f.name;
      link.appendChild(image);
    }
    link.appendChild(clip());
    link.appendChild(document.createTextNode(f.name +
      (f.size !== undefined ? " (" + sizeLabel(f.size) + ")" : "")));
    return link;
  }

  function start() {
    document.body.appendChild(host);
    render();
    connect();
    pingTimer = setInterval(heartbeat, PING_EVERY_MS);
    window.addEventListener("online", function () {
      if (!ready) {
        clearTimeout(reconnectTimer);
        reconnectTimer = null;
        abandon();
      }
    });
  }

  // For the site's own buttons: InteractChat.open(), .send("..."), .status(), .visitorId
  window.InteractChat = {
    open: function () { setOpen(true); },
    close: function () { setOpen(false); },
    send: send,
    sendFile: sendFile,
    status: function () { return status; },
    visitorId: visitorId
  };

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
