/* The live console of a project page (templates/projects/_console.html).
 *
 * Plain JavaScript, no build step. Every text shown comes from the data- attributes of the
 * console's root element, which the template renders translated; frames are shown with
 * textContent only, never as HTML. The admin key is fetched on demand, sent once and never
 * shown or kept.
 */
(function () {
  "use strict";

  var MAX_LINES = 500;
  var MASK = "\u2022\u2022\u2022\u2022\u2022\u2022\u2022\u2022";
  var ONE_LINE = 400; // frames longer than this on one line are indented instead

  function pad(n, width) {
    return String(n).padStart(width, "0");
  }

  function clock(date) {
    return pad(date.getHours(), 2) + ":" + pad(date.getMinutes(), 2) + ":" +
      pad(date.getSeconds(), 2) + "." + pad(date.getMilliseconds(), 3);
  }

  /* JSON on one line with a space after ':' and ',' (outside strings); indented if long. */
  function pretty(value) {
    var flat = compact(value);
    return flat.length <= ONE_LINE ? flat : JSON.stringify(value, null, 2);
  }

  function compact(value) {
    if (Array.isArray(value)) {
      return "[" + value.map(compact).join(", ") + "]";
    }
    if (value !== null && typeof value === "object") {
      return "{" + Object.keys(value).map(function (k) {
        return JSON.stringify(k) + ": " + compact(value[k]);
      }).join(", ") + "}";
    }
    var text = JSON.stringify(value);
    return text === undefined ? String(value) : text;
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  function cookie(name) {
    var parts = document.cookie ? document.cookie.split(";") : [];
    for (var i = 0; i < parts.length; i++) {
      var pair = parts[i].trim();
      if (pair.slice(0, name.length + 1) === name + "=") {
        return decodeURIComponent(pair.slice(name.length + 1));
      }
    }
    return "";
  }

  function csrfToken() {
    var token = cookie("csrftoken");
    if (token) return token;
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function Console(root) {
    this.root = root;
    this.ws = null;
    this.connId = null;
    this.status = null;
    this.pending = new Map(); // id -> <li>
    this.seen = new Map(); // id -> <option>
    this.ref = {};
    var refs = root.querySelectorAll("[data-ref]");
    for (var i = 0; i < refs.length; i++) this.ref[refs[i].dataset.ref] = refs[i];
    this.buttons = {};
    var buttons = root.querySelectorAll("[data-action]");
    for (var j = 0; j < buttons.length; j++) this.buttons[buttons[j].dataset.action] = buttons[j];
    this.bind();
    this.showState();
    this.showDataKind();
  }

  Console.prototype.t = function (name, values) {
    var text = this.root.getAttribute("data-t-" + name) || name;
    return values ? fill(text, values) : text;
  };

  Console.prototype.bind = function () {
    var self = this;
    var on = function (action, handler) {
      self.buttons[action].addEventListener("click", handler.bind(self));
    };
    on("connect", this.connect);
    on("disconnect", this.disconnect);
    on("admin", this.becomeAdmin);
    on("ping", this.ping);
    on("refresh", this.refresh);
    on("send", this.sendMessage);
    on("clear", this.clear);
    this.ref["send-form"].addEventListener("submit", function (event) {
      event.preventDefault();
      self.sendMessage();
    });
    var data = this.root.querySelector("#console-data");
    data.addEventListener("input", this.showDataKind.bind(this));
    data.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        self.sendMessage();
      }
    });
    this.ref["as-text"].addEventListener("change", this.showDataKind.bind(this));
  };

  /* --- the log ------------------------------------------------------------------------ */

  Console.prototype.log = function (kind, text) {
    var box = this.ref.log;
    var stick = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    var line = document.createElement("div");
    line.className = kind;
    var time = document.createElement("time");
    var now = new Date();
    time.dateTime = now.toISOString();
    time.textContent = clock(now);
    var dir = document.createElement("span");
    dir.className = "dir";
    dir.setAttribute("aria-hidden", "true");
    dir.textContent = kind === "in" ? "\u2190" : kind === "out" ? "\u2192" : "\u2022";
    line.appendChild(time);
    line.appendChild(document.createTextNode(" "));
    line.appendChild(dir);
    line.appendChild(document.createTextNode(" " + text));
    box.appendChild(line);
    while (box.childElementCount > MAX_LINES) box.removeChild(box.firstElementChild);
    if (stick) box.scrollTop = box.scrollHeight;
  };

  Console.prototype.note = function (name, values) {
    this.log("sys", this.t(name, values));
  };

  Console.prototype.clear = function () {
    this.ref.log.textContent = "";
  };

  /* --- the socket --------------------------------------------------------------------- */

  Console.prototype.isOpen = function () {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  };

  Console.prototype.connect = function () {
    if (this.ws !== null) return;
    var url = this.root.dataset.wsUrl;
    var ws;
    this.note("connecting", { url: url });
    try {
      ws = new WebSocket(url);
    } catch (err) {
      this.note("error");
      return;
    }
    this.ws = ws;
    var self = this;
    ws.addEventListener("open", function () {
      if (self.ws !== ws) return;
      self.note("opened");
      self.showState();
    });
    ws.addEventListener("message", function (event) {
      if (self.ws === ws) self.receive(event.data);
    });
    ws.addEventListener("error", function () {
      if (self.ws === ws) self.note("error");
    });
    ws.addEventListener("close", function (event) {
      if (self.ws === ws) self.closed(event);
    });
    this.showState();
  };

  Console.prototype.disconnect = function () {
    if (this.ws === null) return;
    this.ws.close(1000);
    this.showState();
  };

  Console.prototype.closed = function (event) {
    var meaning = this.root.getAttribute("data-close-" + event.code);
    if (meaning) this.note("closed", { code: event.code, meaning: meaning });
    else this.note("closed-unknown", { code: event.code });
    if (event.reason) this.note("close-reason", { reason: event.reason });
    this.ws = null;
    this.connId = null;
    this.status = null;
    this.pending.forEach(function (item) { item.remove(); });
    this.pending.clear();
    this.seen.forEach(function (option) { option.remove(); });
    this.seen.clear();
    this.showState();
  };

  /* Send a frame; `shown` is what the log shows in its place (the admin frame, masked). */
  Console.prototype.send = function (frame, shown) {
    if (!this.isOpen()) return false;
    var text = typeof frame === "string" ? frame : JSON.stringify(frame);
    this.ws.send(text);
    var display = shown !== undefined ? shown : frame;
    this.log("out", typeof display === "string" ? display : pretty(display));
    return true;
  };

  Console.prototype.receive = function (text) {
    var frame;
    try {
      frame = JSON.parse(text);
    } catch (err) {
      this.log("in", String(text));
      return;
    }
    this.log("in", pretty(frame));
    if (frame === null || typeof frame !== "object" || Array.isArray(frame)) return;
    if (frame.from !== "system") {
      if (typeof frame.from === "string" && frame.from !== "api") this.sawId(frame.from);
      return;
    }
    if (typeof frame.id === "string" && frame.event === undefined) return this.gotId(frame.id);
    if (typeof frame.new_id === "string") return this.addPending(frame.new_id);
    if (typeof frame.left_id === "string") return this.forget(frame.left_id);
    if (frame.event === "admin") return this.adminReply(frame);
    if (frame.event === "approved") return this.approvedReply(frame);
    if (frame.event === "connections") return this.connectionsReply(frame);
    if (frame.event === "error") {
      this.note("server-error", { code: frame.code, error: frame.error });
    }
  };

  Console.prototype.gotId = function (id) {
    this.connId = id;
    this.status = "pending";
    this.sawId(id);
    this.note("got-id", { id: id });
    this.showState();
  };

  Console.prototype.adminReply = function (frame) {
    if (frame.status === "success") {
      this.status = "admin";
      this.note("admin-ok");
      this.showState();
      // Admins are not told of connections opened before; ask for them.
      this.refresh();
    } else {
      this.note("admin-failed", { error: frame.error });
    }
  };

  Console.prototype.approvedReply = function (frame) {
    if (frame.status === undefined) {
      // The notice to the approved connection itself.
      if (this.status === "pending") this.status = "approved";
      this.note("approved-self");
      this.showState();
    } else if (frame.status === "success") {
      this.dropPending(frame.id);
      this.note("approve-ok", { id: frame.id });
    } else {
      this.note("approve-failed", { id: frame.id, error: frame.error });
    }
  };

  Console.prototype.connectionsReply = function (frame) {
    var self = this;
    if (!Array.isArray(frame.connections)) return;
    this.pending.forEach(function (item) { item.remove(); });
    this.pending.clear();
    frame.connections.forEach(function (conn) {
      if (!conn || typeof conn.id !== "string") return;
      self.sawId(conn.id);
      if (conn.status === "pending") self.addPending(conn.id);
    });
    this.showPendingEmpty();
  };

  /* --- ids and pending connections ---------------------------------------------------- */

  Console.prototype.sawId = function (id) {
    if (this.seen.has(id)) return;
    var option = document.createElement("option");
    option.value = id;
    this.ref.ids.appendChild(option);
    this.seen.set(id, option);
  };

  Console.prototype.addPending = function (id) {
    this.sawId(id);
    if (id === this.connId || this.pending.has(id)) return;
    var self = this;
    var item = document.createElement("li");
    var code = document.createElement("code");
    code.textContent = id;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "small";
    button.textContent = this.t("approve");
    button.setAttribute("aria-label", this.t("approve-label", { id: id }));
    button.disabled = !this.isOpen();
    button.addEventListener("click", function () {
      self.send({ to: "system", event: "approved", id: id });
    });
    item.appendChild(code);
    item.appendChild(button);
    this.ref.pending.appendChild(item);
    this.pending.set(id, item);
    this.showPendingEmpty();
  };

  Console.prototype.dropPending = function (id) {
    var item = this.pending.get(id);
    if (item) item.remove();
    this.pending.delete(id);
    this.showPendingEmpty();
  };

  Console.prototype.forget = function (id) {
    this.dropPending(id);
    var option = this.seen.get(id);
    if (option) option.remove();
    this.seen.delete(id);
  };

  Console.prototype.showPendingEmpty = function () {
    this.ref["pending-empty"].hidden = this.pending.size > 0;
  };

  /* --- actions ------------------------------------------------------------------------ */

  Console.prototype.ping = function () {
    this.send("ping");
  };

  Console.prototype.refresh = function () {
    this.send({ to: "system", event: "connections" });
  };

  Console.prototype.becomeAdmin = function () {
    var self = this;
    if (!this.isOpen()) return;
    this.buttons.admin.disabled = true;
    fetch(this.root.dataset.keyUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    }).then(function (body) {
      var key = body && body.admin_key;
      if (typeof key !== "string") throw new Error("no admin_key");
      self.send({ to: "system", event: "admin", key: key },
        { to: "system", event: "admin", key: MASK });
    }).catch(function (err) {
      self.note("key-failed", { error: err.message });
    }).then(function () {
      self.showState();
    });
  };

  /* The data box: a JSON value if it parses as JSON (and text is not forced), else a string. */
  Console.prototype.readData = function () {
    var text = this.root.querySelector("#console-data").value;
    if (!this.ref["as-text"].checked) {
      try {
        return { json: true, value: JSON.parse(text) };
      } catch (err) {
        // not JSON: sent as a string
      }
    }
    return { json: false, value: text };
  };

  Console.prototype.showDataKind = function () {
    var data = this.readData();
    if (!data.json) {
      this.ref["data-as"].textContent = this.t("as-text");
      return;
    }
    var v = data.value;
    var type = v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
    this.ref["data-as"].textContent = this.t("as-json", { type: this.t("type-" + type) });
  };

  Console.prototype.sendMessage = function () {
    var to = this.root.querySelector("#console-to").value.trim() || "all";
    this.send({ to: to, data: this.readData().value });
  };

  /* --- what the page shows ------------------------------------------------------------ */

  Console.prototype.showState = function () {
    var names = ["connecting", "open", "closing", "closed"];
    var state = this.ws === null ? "closed" : names[this.ws.readyState];
    var badge = this.ref.state;
    badge.textContent = this.t("state-" + state);
    badge.className = "badge " + (state === "open" ? "ok" : state === "closed" ? "off" : "warn");
    badge.dataset.state = state;

    this.ref["conn-id"].textContent = this.connId || "\u2014";
    var status = this.ref.status;
    status.textContent = this.status ? this.t("status-" + this.status) : "\u2014";
    status.className = "badge" + (this.status === "pending" ? " warn" : this.status ? " ok" : "");
    status.dataset.status = this.status || "";

    var open = state === "open";
    this.buttons.connect.disabled = this.ws !== null;
    this.buttons.disconnect.disabled = this.ws === null || state === "closing";
    this.buttons.admin.disabled = !open || this.status === "admin";
    this.buttons.ping.disabled = !open;
    this.buttons.send.disabled = !open;
    this.buttons.refresh.disabled = !open || this.status !== "admin";
    this.pending.forEach(function (item) {
      item.querySelector("button").disabled = !open;
    });
    this.showPendingEmpty();
  };

  function start() {
    var roots = document.querySelectorAll("[data-console]");
    for (var i = 0; i < roots.length; i++) new Console(roots[i]);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
