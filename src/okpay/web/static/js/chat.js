// Live chat: the conversation page (customer or agent) and the agents' waiting list.
// Everything the server sends is shown with textContent, never as HTML.
(function () {
  "use strict";

  function socketUrl(path) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : all;
    });
  }

  // Reconnects after a dropped connection, unless the conversation is over.
  function connect(path, handlers) {
    var socket, attempts = 0, closed = false;
    function open() {
      socket = new WebSocket(socketUrl(path));
      socket.addEventListener("open", function () { attempts = 0; if (handlers.open) { handlers.open(); } });
      socket.addEventListener("message", function (event) {
        var data;
        try { data = JSON.parse(event.data); } catch (e) { return; }
        handlers.message(data);
      });
      socket.addEventListener("close", function () {
        if (closed || handlers.finished()) { return; }
        if (handlers.offline) { handlers.offline(); }
        attempts += 1;
        setTimeout(open, Math.min(10000, 500 * Math.pow(2, attempts)));
      });
    }
    open();
    return {
      send: function (data) {
        if (socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(data)); return true; }
        return false;
      },
      stop: function () { closed = true; socket.close(); }
    };
  }

  function room(root) {
    var side = root.getAttribute("data-side");
    var other = side === "customer" ? "agent" : "customer";
    var log = root.querySelector("[data-chat-log]");
    var statusLine = root.querySelector("[data-chat-status]");
    var typingLine = root.querySelector("[data-chat-typing]");
    var form = root.querySelector("[data-chat-compose]");
    var input = form && form.querySelector("textarea");
    var errorLine = form && form.querySelector("[data-chat-error]");
    var status = root.getAttribute("data-status");
    var typingTimer = null, lastTyping = 0;
    if (status !== "waiting" && status !== "active") { return; }

    function text(name) { return root.getAttribute("data-text-" + name) || ""; }

    function showStatus(state) {
      if (state.status === "waiting") {
        statusLine.textContent = side === "customer"
          ? fill(text("waiting"), { position: state.position || 1 }) : text("agent-waiting");
      } else if (state.status === "active") {
        statusLine.textContent = fill(text("active"), { agent: state.agent || "" });
      }
    }

    function addLine(m) {
      if (log.querySelector('[data-message-id="' + m.id + '"]')) { return; }
      var li = document.createElement("li");
      li.className = "chat-line chat-" + m.side;
      li.setAttribute("data-message-id", m.id);
      var who = document.createElement("span");
      who.className = "chat-author";
      who.textContent = m.author;
      var when = document.createElement("time");
      when.setAttribute("datetime", m.at);
      when.textContent = m.time;
      var body = document.createElement("p");
      body.className = "chat-body";
      body.textContent = m.body;
      li.appendChild(who);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(when);
      li.appendChild(body);
      log.appendChild(li);
      li.scrollIntoView({ block: "end" });
    }

    function showTyping() {
      typingLine.textContent = text("typing-" + other);
      typingLine.hidden = false;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { typingLine.hidden = true; }, 4000);
    }

    var conn = connect(root.getAttribute("data-ws"), {
      finished: function () { return status !== "waiting" && status !== "active"; },
      offline: function () { root.removeAttribute("data-live"); statusLine.textContent = text("offline"); },
      message: function (data) {
        if (data.type === "state") {
          status = data.status;
          if (status !== "waiting" && status !== "active") { location.reload(); return; }
          root.setAttribute("data-live", "");
          data.messages.forEach(addLine);
          showStatus(data);
        } else if (data.type === "message") {
          addLine(data);
          if (data.side === other) { typingLine.hidden = true; }
        } else if (data.type === "typing") {
          showTyping();
        } else if (data.type === "accepted") {
          status = "active";
          showStatus({ status: "active", agent: data.agent });
        } else if (data.type === "ended" || data.type === "missed") {
          status = data.type;
          statusLine.textContent = text("ended");
          // The page shows the outcome (request number, what happens next) in full.
          setTimeout(function () { location.reload(); }, 300);
        } else if (data.type === "error" && errorLine) {
          errorLine.textContent = data.message;
          errorLine.hidden = false;
        }
      }
    });

    if (!form) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = input.value.trim();
      if (!body) { return; }
      if (conn.send({ type: "message", body: body })) {
        input.value = "";
        errorLine.hidden = true;
      }
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    input.addEventListener("input", function () {
      var now = Date.now();
      // Only a notice that went out starts the pause: keys typed while connecting try again.
      if (now - lastTyping > 1500 && conn.send({ type: "typing" })) { lastTyping = now; }
    });
    form.querySelector("[data-chat-end]").addEventListener("click", function () {
      conn.send({ type: "end" });
    });
  }

  function waitingList(root) {
    var list = root.querySelector("[data-chat-waiting]");
    var mine = root.querySelector("[data-chat-mine]");
    var csrf = document.body.getAttribute("data-csrf") || "";
    function text(name) { return root.getAttribute("data-text-" + name) || ""; }

    function render(data) {
      list.textContent = "";
      if (!data.waiting.length) {
        var empty = document.createElement("li");
        empty.className = "muted";
        empty.textContent = text("empty");
        list.appendChild(empty);
      }
      data.waiting.forEach(function (w) {
        var li = document.createElement("li");
        li.setAttribute("data-chat-id", w.id);
        var name = document.createElement("strong");
        name.textContent = w.name;
        li.appendChild(name);
        li.appendChild(document.createTextNode(" · " + w.number + " · " + fill(text("waited"), { seconds: w.waited })));
        var question = document.createElement("p");
        question.textContent = w.question;
        li.appendChild(question);
        var accept = document.createElement("form");
        accept.method = "post";
        accept.action = "/agent/chats/" + encodeURIComponent(w.id) + "/accept";
        accept.className = "inline-form";
        var token = document.createElement("input");
        token.type = "hidden";
        token.name = "csrf_token";
        token.value = csrf;
        var button = document.createElement("button");
        button.type = "submit";
        button.className = "small";
        button.setAttribute("data-testid", "chat-accept");
        button.textContent = text("accept");
        accept.appendChild(token);
        accept.appendChild(button);
        li.appendChild(accept);
        list.appendChild(li);
      });
      mine.textContent = "";
      data.mine.forEach(function (c) {
        var li = document.createElement("li");
        var a = document.createElement("a");
        a.href = "/agent/chats/" + encodeURIComponent(c.id);
        a.textContent = c.name + " · " + c.number;
        li.appendChild(a);
        mine.appendChild(li);
      });
    }

    connect(root.getAttribute("data-ws"), {
      finished: function () { return false; },
      message: function (data) { if (data.type === "list") { render(data); } }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-chat-room]").forEach(room);
    document.querySelectorAll("[data-chat-list]").forEach(waitingList);
  });
})();
