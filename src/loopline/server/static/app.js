// The loopline dashboard: tasks, a task's trajectory (live from its event stream) and threads, read from
// the server's /v1 API with the API key the person enters. No framework and no build step.
//
// Every value from the API is put into the page as text (textContent / text nodes); nothing from the
// server is ever parsed as HTML. Links are built here from ids passed through encodeURIComponent.
"use strict";

(() => {
  const KEY_STORAGE = "loopline.apiKey";
  const POLL_MS = 1500;
  const STATUSES = ["PENDING", "RUNNING", "PAUSED", "COMPLETED", "FAILED", "CANCELLED"];
  const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
  const view = document.getElementById("view");
  const notice = document.getElementById("notice");
  const keyForm = document.getElementById("key-form");
  const keyInput = document.getElementById("api-key");

  // --- building the DOM (text only) ---------------------------------------------------------------

  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, String(value));
    }
    add(node, children);
    return node;
  }

  function add(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));  // a string becomes a text node
    }
  }

  const enc = encodeURIComponent;
  const link = (path, text) => h("a", { href: "#" + path }, text);
  const taskLink = (id) => link("/tasks/" + enc(id), id);
  const threadLink = (id) => (id ? link("/threads/" + enc(id), id) : "");

  function statusBadge(status) {
    const known = STATUSES.includes(status) ? " s-" + status.toLowerCase() : "";
    return h("span", { class: "status" + known }, status || "?");
  }

  function pretty(value) {
    if (typeof value === "string") return value;
    try {
      return JSON.stringify(value, null, 2);
    } catch (err) {
      return String(value);
    }
  }

  function prettyArguments(text) {
    if (typeof text !== "string") return pretty(text);
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch (err) {
      return text;
    }
  }

  function when(seconds) {
    return typeof seconds === "number" ? new Date(seconds * 1000).toLocaleString() : "";
  }

  function costText(cost) {
    if (typeof cost !== "number") return "";
    if (cost === 0) return "$0";
    if (Math.abs(cost) < 0.01) return "$" + cost.toFixed(6);
    return "$" + cost.toFixed(Math.abs(cost) < 1 ? 4 : 2);
  }

  function usageText(usage) {
    if (!usage) return "";
    const parts = [(usage.input_tokens || 0).toLocaleString() + " in", (usage.output_tokens || 0).toLocaleString() + " out"];
    if (usage.requests) parts.push(usage.requests + " requests");
    return parts.join(" · ");
  }

  function percent(progress) {
    return typeof progress === "number" ? Math.round(progress * 100) + "%" : "";
  }

  function progressBar(progress) {
    if (typeof progress !== "number") return "";
    return h("span", { class: "progress" }, h("progress", { max: "1", value: String(progress) }), " ", percent(progress));
  }

  // --- the API ------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, type, message) {
      super(message);
      this.status = status;
      this.type = type;
    }
  }

  const apiKey = () => localStorage.getItem(KEY_STORAGE) || "";

  function headers(extra) {
    const all = Object.assign({}, extra);
    const key = apiKey();
    if (key) all.Authorization = "Bearer " + key;
    return all;
  }

  async function apiError(response) {
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    const error = (body && body.error) || {};
    return new ApiError(response.status, error.type || "HTTP " + response.status, error.message || response.statusText);
  }

  async function api(path, options) {
    const response = await fetch(path, Object.assign({}, options, { headers: headers((options || {}).headers) }));
    if (!response.ok) throw await apiError(response);
    hideNotice();
    return response.status === 204 ? null : response.json();
  }

  const items = (page) => (Array.isArray(page) ? page : (page && page.items) || []);

  // --- notices and the key ------------------------------------------------------------------------

  function showNotice(text, kind) {
    notice.replaceChildren(text);
    notice.className = kind || "error";
    notice.hidden = false;
  }

  function hideNotice() {
    notice.hidden = true;
    keyForm.classList.remove("wanted");
  }

  function showError(err) {
    if (err instanceof ApiError && err.status === 401) {
      const why = apiKey() ? "The API key was refused (" + err.message + "). Enter a valid key above and press Save."
        : "This server needs an API key: enter one above and press Save.";
      showNotice(why, "key");
      keyForm.classList.add("wanted");
      if (document.activeElement !== keyInput) keyInput.focus();
      return;
    }
    const what = err instanceof ApiError ? err.status + " " + err.type + ": " + err.message : "The server cannot be reached (" + err.message + ").";
    showNotice(what, "error");
  }

  function setupKeyForm() {
    keyInput.value = apiKey();
    keyForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const key = keyInput.value.trim();
      if (key) localStorage.setItem(KEY_STORAGE, key);
      else localStorage.removeItem(KEY_STORAGE);
      route();
    });
    document.getElementById("key-forget").addEventListener("click", () => {
      localStorage.removeItem(KEY_STORAGE);
      keyInput.value = "";
      route();
    });
  }

  // --- repeating work that a view stops when the page moves on ------------------------------------

  function poll(work, ms) {
    let stopped = false;
    let timer = null;
    async function tick() {
      try {
        await work();
      } catch (err) {
        if (!stopped) showError(err);
      }
      if (!stopped) timer = setTimeout(tick, ms);
    }
    tick();
    return { stop() { stopped = true; clearTimeout(timer); } };
  }

  // Runs `work` at most once at a time; a call while it runs runs it once more afterwards.
  function coalesced(work) {
    let running = null;
    let again = false;
    return function run() {
      if (running) { again = true; return running; }
      running = (async () => {
        do {
          again = false;
          try { await work(); } catch (err) { showError(err); }
        } while (again);
        running = null;
      })();
      return running;
    };
  }

  // --- server-sent events over fetch (EventSource cannot send the Authorization header) -----------

  // Lines in, events out, as the HTML standard parses text/event-stream.
  class SSEParser {
    constructor(onEvent) {
      this.onEvent = onEvent;
      this.buffer = "";
      this.data = [];
      this.type = "";
      this.lastEventId = null;
    }

    feed(text) {
      this.buffer += text;
      for (;;) {
        const match = /\r\n|\r|\n/.exec(this.buffer);
        if (match === null) return;
        if (match[0] === "\r" && match.index === this.buffer.length - 1) return;  // maybe half of a \r\n
        const line = this.buffer.slice(0, match.index);
        this.buffer = this.buffer.slice(match.index + match[0].length);
        this.line(line);
      }
    }

    line(line) {
      if (line === "") {
        if (this.data.length) this.onEvent({ event: this.type || "message", data: this.data.join("\n"), id: this.lastEventId });
        this.data = [];
        this.type = "";
        return;
      }
      if (line.startsWith(":")) return;  // a comment: the server's keepalive
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") this.data.push(value);
      else if (field === "event") this.type = value;
      else if (field === "id" && !value.includes("\0")) this.lastEventId = value;
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // Follows a task's events until its `finished` event; after a dropped connection it reconnects
  // (backing off, up to 10 s) with Last-Event-ID, so each event is delivered once and in order.
  function followEvents(taskId, onEvent, onState) {
    let stopped = false;
    let finished = false;
    let controller = null;
    let lastId = null;
    let seen = 0;

    function deliver(message) {
      if (message.id !== null) lastId = message.id;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (err) {
        return;
      }
      if (typeof event.id === "number") {
        if (event.id <= seen) return;
        seen = event.id;
      }
      if (event.type === "finished") finished = true;
      onEvent(event);
    }

    async function readOnce() {
      controller = new AbortController();
      const sent = headers({ Accept: "text/event-stream" });
      if (lastId !== null) sent["Last-Event-ID"] = lastId;
      const response = await fetch("/v1/tasks/" + enc(taskId) + "/events", { headers: sent, signal: controller.signal, cache: "no-store" });
      if (!response.ok) throw await apiError(response);
      onState("live");
      const parser = new SSEParser(deliver);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        parser.feed(value);
      }
    }

    (async () => {
      let delay = 500;
      while (!stopped && !finished) {
        try {
          await readOnce();
          delay = 500;
        } catch (err) {
          if (stopped) return;
          if (err instanceof ApiError && err.status < 500 && err.status !== 429) {
            showError(err);
            onState("stopped");
            return;
          }
        }
        if (stopped || finished) break;
        onState("reconnecting");
        await sleep(delay + Math.random() * 250);
        delay = Math.min(delay * 2, 10000);
      }
      if (!stopped) onState(finished ? "finished" : "stopped");
    })();
    return { stop() { stopped = true; if (controller) controller.abort(); } };
  }

  // --- the task list ------------------------------------------------------------------------------

  function tasksView(params) {
    const status = params.get("status") || "";
    const agent = params.get("agent") || "";
    const statusSelect = h("select", { id: "filter-status", name: "status" },
      h("option", { value: "" }, "any status"), STATUSES.map((s) => h("option", { value: s }, s)));
    statusSelect.value = status;
    const agentInput = h("input", { id: "filter-agent", name: "agent", type: "search", placeholder: "agent id", value: agent });
    const apply = () => {
      const query = new URLSearchParams();
      if (statusSelect.value) query.set("status", statusSelect.value);
      if (agentInput.value.trim()) query.set("agent", agentInput.value.trim());
      location.hash = "#/tasks" + (query.toString() ? "?" + query : "");
    };
    statusSelect.addEventListener("change", apply);
    const filters = h("form", { class: "filters", onsubmit: (event) => { event.preventDefault(); apply(); } },
      h("label", {}, "Status ", statusSelect), h("label", {}, "Agent ", agentInput), h("button", { type: "submit" }, "Filter"));
    const body = h("tbody", { id: "tasks" });
    const more = h("p", { class: "muted" });
    view.append(h("h1", {}, "Tasks"), filters,
      h("table", { class: "list" },
        h("thead", {}, h("tr", {}, ["Task", "Agent", "Status", "Progress", "Current action", "Created", "Cost"].map((t) => h("th", {}, t)))),
        body),
      more);
    return poll(async () => {
      const query = new URLSearchParams({ limit: "100" });
      if (status) query.set("status", status);
      if (agent) query.set("agent_id", agent);
      const page = await api("/v1/tasks?" + query);
      const rows = items(page).map(taskRow);
      body.replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: "7", class: "muted" }, "No tasks."))]));
      more.textContent = page.next_cursor ? "Showing the newest " + rows.length + " tasks." : "";
    }, POLL_MS);
  }

  function taskRow(task) {
    return h("tr", { "data-task-id": task.id },
      h("td", {}, taskLink(task.id)),
      h("td", {}, task.agent_id),
      h("td", {}, statusBadge(task.status)),
      h("td", {}, progressBar(task.progress)),
      h("td", { class: "action" }, task.current_action || ""),
      h("td", {}, when(task.created_at)),
      h("td", {}, costText(task.cost_usd)));
  }

  // --- a task and its trajectory ------------------------------------------------------------------

  function taskView(id) {
    const live = h("span", { id: "live", class: "live" }, "connecting");
    const summary = h("dl", { id: "summary", class: "summary" });
    const trajectory = h("ol", { id: "trajectory", class: "trajectory" });
    const conversation = h("div", { id: "conversation" });
    view.append(h("h1", {}, "Task ", h("code", {}, id), " ", live), summary,
      h("h2", {}, "Trajectory"), trajectory, h("h2", {}, "Conversation"), conversation);
    const calls = new Map();  // tool call id -> where its result goes
    let task = null;
    let usage = null;

    const loadTask = coalesced(async () => {
      task = await api("/v1/tasks/" + enc(id));
      renderSummary(summary, task, usage);
      loadConversation();
    });
    let shownMessages = -1;
    const loadConversation = coalesced(async () => {
      if (!task || !task.execution_id) return;
      const messages = items(await api("/v1/executions/" + enc(task.execution_id) + "/messages"));
      if (messages.length === shownMessages) return;
      shownMessages = messages.length;
      conversation.replaceChildren(...messages.map(messageView));
    });
    const stream = followEvents(id, (event) => {
      if (event.type === "usage") usage = event.data;
      const item = eventItem(event, calls);
      if (item) trajectory.append(item);
      loadTask();
    }, (state) => { live.textContent = state; live.className = "live state-" + state; });
    const refresh = poll(async () => { if (!task || !FINAL.has(task.status)) await loadTask(); }, POLL_MS * 2);
    return { stop() { stream.stop(); refresh.stop(); } };
  }

  function renderSummary(summary, task, usage) {
    const input = task.input || {};
    const rows = [
      ["Status", statusBadge(task.status)],
      ["Agent", task.agent_id],
      ["Progress", progressBar(task.progress)],
      ["Current action", task.current_action || ""],
      ["Prompt", h("pre", { class: "prompt" }, input.text !== undefined ? input.text : pretty(input))],
      ["Thread", threadLink(task.thread_id)],
      ["Execution", task.execution_id ? h("code", {}, task.execution_id) : ""],
      ["Worker", task.worker || ""],
      ["Steps", task.steps === undefined || task.steps === null ? "" : String(task.steps)],
      ["Usage", usageText(task.usage || usage)],
      ["Cost", costText(task.cost_usd !== undefined && task.cost_usd !== null ? task.cost_usd : usage && usage.cost_usd)],
      ["Created", when(task.created_at)],
      ["Finished", when(task.finished_at)],
    ];
    if (task.result !== null && task.result !== undefined) rows.push(["Result", h("pre", { class: "result" }, pretty(task.result))]);
    if (task.error) rows.push(["Error", h("pre", { class: "error" }, pretty(task.error))]);
    summary.replaceChildren(...rows.filter(([, value]) => value !== "").flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]));
  }

  const EVENTS = {
    status: (d) => ["status ", statusBadge(d.status), d.worker ? [" on worker ", h("code", {}, d.worker)] : ""],
    execution: (d) => ["execution ", h("code", {}, d.execution_id), " on thread ", threadLink(d.thread_id)],
    execution_status: (d) => ["execution ", statusBadge(d.status)],
    step: (d) => ["model step " + d.step, " · ", usageText(d.usage), " · ", costText(d.cost_usd)],
    usage: null,  // every step's event carries the same numbers; the summary shows the total
    progress: (d) => ["progress ", percent(d.progress), d.current_action ? " · " + d.current_action : ""],
    alert: (d) => [h("span", { class: "level" }, d.level || "alert"), " ", d.message],
    log: (d) => [h("span", { class: "level" }, d.level || "log"), " ", d.message],
    recovered: (d) => ["taken over by worker ", h("code", {}, d.worker), d.previous_worker ? [" from ", h("code", {}, d.previous_worker)] : ""],
    node: (d) => ["node ", h("code", {}, d.node_id), " ", d.task_id ? taskLink(d.task_id) : "", " ", statusBadge(d.status)],
    finished: (d) => ["finished ", statusBadge(d.status),
      d.result !== null && d.result !== undefined ? h("pre", { class: "result" }, pretty(d.result)) : "",
      d.error ? h("pre", { class: "error" }, pretty(d.error)) : ""],
  };

  function eventItem(event, calls) {
    const data = event.data || {};
    if (event.type === "tool_result" && calls.has(data.id)) {
      fillResult(calls.get(data.id), data);
      return null;
    }
    let body;
    if (event.type === "tool_call") body = toolCall(data, calls);
    else if (event.type === "tool_result") body = toolCall({ id: data.id, name: data.name }, calls, data);
    else if (EVENTS[event.type] === null) return null;
    else if (EVENTS[event.type]) body = EVENTS[event.type](data);
    else body = [event.type, " ", h("pre", {}, pretty(data))];
    return h("li", { class: "event", "data-type": event.type, "data-seq": event.id },
      h("time", {}, when(event.created_at)), h("div", { class: "what" }, body));
  }

  function toolCall(data, calls, result) {
    const slot = h("div", { class: "tool-result pending" }, "running…");
    calls.set(data.id, slot);
    if (result) fillResult(slot, result);
    return h("div", { class: "tool-call", "data-call-id": data.id },
      h("div", {}, "tool call ", h("b", { class: "tool-name" }, data.name)),
      data.arguments !== undefined ? h("pre", { class: "arguments" }, pretty(data.arguments)) : "",
      slot);
  }

  function fillResult(slot, data) {
    slot.className = "tool-result" + (data.is_error ? " is-error" : "");
    const took = typeof data.duration === "number" ? " (" + data.duration.toFixed(2) + " s)" : "";
    slot.replaceChildren(h("div", {}, (data.is_error ? "error" : "result") + took), h("pre", {}, pretty(data.result)));
  }

  // --- messages (a task's conversation, a thread) -------------------------------------------------

  function messageView(message) {
    const facts = [message.model, usageText(message.usage), message.stop_reason ? "stop: " + message.stop_reason : "", when(message.created_at)];
    return h("article", { class: "message role-" + (["system", "user", "assistant", "tool"].includes(message.role) ? message.role : "other") },
      h("header", {}, h("b", {}, message.role), " ", h("span", { class: "muted" }, facts.filter(Boolean).join(" · "))),
      (message.parts || []).map(partView));
  }

  function partView(part) {
    switch (part.kind) {
      case "text": return h("div", { class: "text" }, part.text);
      case "reasoning": return h("details", { class: "reasoning" }, h("summary", {}, "reasoning"), part.redacted ? "(redacted)" : part.text);
      case "refusal": return h("div", { class: "refusal" }, "refused: ", part.text);
      case "tool_call": return h("div", { class: "tool-call" }, "tool call ", h("b", {}, part.name), h("pre", { class: "arguments" }, prettyArguments(part.arguments)));
      case "tool_result": return h("div", { class: "tool-result" + (part.is_error ? " is-error" : "") },
        (part.is_error ? "error from " : "result of ") + part.name, h("pre", {}, part.content));
      case "file": return h("div", { class: "file" }, "file ", part.filename || part.url || "", " (", part.media_type, ")");
      default: return h("pre", { class: "part" }, pretty(part));
    }
  }

  // --- threads ------------------------------------------------------------------------------------

  function threadsView() {
    const body = h("tbody", { id: "threads" });
    view.append(h("h1", {}, "Threads"), h("table", { class: "list" },
      h("thead", {}, h("tr", {}, ["Thread", "Messages", "Updated", "Parent"].map((t) => h("th", {}, t)))), body));
    return poll(async () => {
      const rows = items(await api("/v1/threads?limit=100")).map((thread) => h("tr", { "data-thread-id": thread.id },
        h("td", {}, threadLink(thread.id)), h("td", {}, String(thread.length ?? "")), h("td", {}, when(thread.updated_at)),
        h("td", {}, threadLink(thread.parent_thread_id))));
      body.replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: "4", class: "muted" }, "No threads."))]));
    }, POLL_MS * 2);
  }

  function threadView(id) {
    const tasks = h("ul", { id: "thread-tasks" });
    const messages = h("div", { id: "messages" });
    view.append(h("h1", {}, "Thread ", h("code", {}, id)), h("h2", {}, "Tasks"), tasks, h("h2", {}, "Messages"), messages);
    let shown = -1;
    return poll(async () => {
      const found = items(await api("/v1/tasks?limit=100&thread_id=" + enc(id)));
      tasks.replaceChildren(...found.map((task) => h("li", {}, taskLink(task.id), " ", statusBadge(task.status), " ", task.agent_id)));
      const list = items(await api("/v1/threads/" + enc(id) + "/messages"));
      if (list.length !== shown) {
        shown = list.length;
        messages.replaceChildren(...(list.length ? list.map(messageView) : [h("p", { class: "muted" }, "No messages yet.")]));
      }
    }, POLL_MS * 2);
  }

  // --- routing: #/tasks, #/tasks/<id>, #/threads, #/threads/<id> ----------------------------------

  let current = null;

  function route() {
    if (current) current.stop();
    current = null;
    hideNotice();
    view.replaceChildren();
    const hash = location.hash.replace(/^#/, "") || "/tasks";
    const [path, query] = hash.split("?");
    let parts;
    try {
      parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    } catch (err) {
      parts = [];
    }
    for (const a of document.querySelectorAll("nav a")) a.classList.toggle("current", a.dataset.nav === (parts[0] || "tasks"));
    if (parts[0] === "tasks" && parts[1]) current = taskView(parts[1]);
    else if (parts[0] === "threads" && parts[1]) current = threadView(parts[1]);
    else if (parts[0] === "threads") current = threadsView();
    else current = tasksView(new URLSearchParams(query || ""));
  }

  setupKeyForm();
  window.addEventListener("hashchange", route);
  route();
})();
