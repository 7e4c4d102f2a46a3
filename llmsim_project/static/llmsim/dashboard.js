// LLMSim live dashboard: numbers pushed over a WebSocket (Channels), or polled from
// /llmsim/stats once a second when the socket cannot be opened or drops. Plain DOM and
// SVG, no library. ?transport=poll skips the socket.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("dashboard-config").textContent);
  const POLL_MS = 1000;
  const RETRY_SOCKET_MS = 15000;
  const SVG = "http://www.w3.org/2000/svg";
  let pollTimer = null;
  let lastData = null;

  const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const decimal = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

  function lookup(data, path) {
    return path.split(".").reduce((value, key) => (value == null ? undefined : value[key]), data);
  }

  function format(value, kind) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") return String(value);
    // Dollars: cents are too coarse for a few test requests, so small sums show more digits.
    if (kind === "usd") return "$" + value.toFixed(value < 1 ? 4 : 2);
    if (kind === "rate" || !Number.isInteger(value)) return decimal.format(value);
    return integer.format(value);
  }

  function setTransport(text, kind) {
    const badge = document.getElementById("transport");
    badge.textContent = text;
    badge.dataset.transport = kind;
    badge.className = "badge " + kind;
  }

  function sparkline(svg, values) {
    const width = 300, height = 60;
    const max = Math.max(1, ...values);
    const step = values.length > 1 ? width / (values.length - 1) : width;
    const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 6)).toFixed(1)}`);
    svg.replaceChildren();
    const area = document.createElementNS(SVG, "path");
    area.setAttribute("d", `M0,${height} L${points.join(" L")} L${width},${height} Z`);
    area.setAttribute("class", "area");
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points.join(" "));
    line.setAttribute("class", "line");
    svg.append(area, line);
    const scale = document.querySelector(`[data-scale-of="${svg.id}"]`);
    if (scale) scale.textContent = `peak ${decimal.format(max)}/s`;
  }

  function bars(svg, counts) {
    const entries = Object.entries(counts).slice(0, 10);
    const rowHeight = 22, labelWidth = 150, width = 400;
    const total = entries.reduce((sum, [, n]) => sum + n, 0);
    const max = Math.max(1, ...entries.map(([, n]) => n));
    svg.setAttribute("viewBox", `0 0 ${width} ${Math.max(1, entries.length) * rowHeight}`);
    svg.style.height = `${Math.max(1, entries.length) * rowHeight}px`;
    svg.replaceChildren();
    entries.forEach(([name, n], i) => {
      const y = i * rowHeight;
      const text = document.createElementNS(SVG, "text");
      text.setAttribute("x", "0");
      text.setAttribute("y", String(y + 15));
      text.textContent = name.length > 22 ? name.slice(0, 21) + "…" : name;
      const bar = document.createElementNS(SVG, "rect");
      bar.setAttribute("x", String(labelWidth));
      bar.setAttribute("y", String(y + 3));
      bar.setAttribute("height", String(rowHeight - 6));
      bar.setAttribute("width", String(Math.max(1, ((width - labelWidth - 90) * n) / max)));
      const value = document.createElementNS(SVG, "text");
      value.setAttribute("x", String(labelWidth + ((width - labelWidth - 90) * n) / max + 6));
      value.setAttribute("y", String(y + 15));
      value.textContent = `${integer.format(n)} (${Math.round((100 * n) / Math.max(1, total))}%)`;
      svg.append(text, bar, value);
    });
    document.getElementById("models-empty").hidden = entries.length > 0;
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.append(td);
  }

  function render(data) {
    lastData = data;
    document.querySelectorAll("[data-stat]").forEach((el) => {
      el.textContent = format(lookup(data, el.dataset.stat), el.dataset.format);
    });
    document.getElementById("updated").textContent = new Date(data.time * 1000).toLocaleTimeString();

    document.querySelectorAll("#latency tr[data-latency]").forEach((row) => {
      const figures = data.latency_ms[row.dataset.latency];
      row.querySelectorAll("td").forEach((td) => td.remove());
      for (const key of ["count", "avg", "min", "p50", "p95", "p99", "max"]) cell(row, format(figures[key]));
    });

    const errors = document.querySelector("#errors tbody");
    errors.replaceChildren();
    for (const [status, entry] of Object.entries(data.errors.by_status)) {
      const row = document.createElement("tr");
      cell(row, status === "0" ? "—" : status);
      cell(row, entry.kind);
      cell(row, format(entry.injected));
      cell(row, format(entry.organic));
      cell(row, format(entry.total));
      errors.append(row);
    }
    document.getElementById("errors-empty").hidden = errors.children.length > 0;

    bars(document.getElementById("models"), data.requests.by_model);
    const endpoints = document.querySelector("#endpoints tbody");
    endpoints.replaceChildren();
    for (const [endpoint, n] of Object.entries(data.requests.by_endpoint)) {
      const row = document.createElement("tr");
      cell(row, endpoint);
      cell(row, format(n));
      endpoints.append(row);
    }

    sparkline(document.getElementById("spark-requests"), data.series.requests);
    sparkline(document.getElementById("spark-tokens"), data.series.tokens);
  }

  async function poll() {
    try {
      const response = await fetch(config.statsUrl, { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      render(await response.json());
      setTransport("live · polling", "polling");
    } catch (error) {
      setTransport("offline (retrying)", "offline");
    }
  }

  function startPolling() {
    if (pollTimer === null) {
      poll();
      pollTimer = setInterval(poll, POLL_MS);
    }
  }

  function stopPolling() {
    if (pollTimer !== null) {
      clearInterval(pollTimer);
      pollTimer = null;
    }
  }

  function connect() {
    if (!("WebSocket" in window)) return startPolling();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let socket;
    try {
      socket = new WebSocket(`${scheme}//${location.host}${config.socketPath}`);
    } catch (error) {
      return startPolling();
    }
    let opened = false;
    // A socket that neither opens nor fails soon (a proxy holding it) counts as failed.
    const giveUp = setTimeout(() => { if (!opened) socket.close(); }, 3000);
    socket.onopen = () => {
      opened = true;
      clearTimeout(giveUp);
      stopPolling();
      setTransport("live · websocket", "websocket");
    };
    socket.onmessage = (event) => render(JSON.parse(event.data));
    socket.onclose = () => {
      clearTimeout(giveUp);
      startPolling();
      setTimeout(connect, RETRY_SOCKET_MS);
    };
  }

  const reset = document.getElementById("reset");
  if (reset) {
    reset.addEventListener("click", async () => {
      if (!confirm("Reset every counter of every process?")) return;
      const csrf = (document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/) || [])[1] || "";
      const response = await fetch(config.resetUrl, { method: "POST", headers: { "X-CSRFToken": csrf }, credentials: "same-origin" });
      if (response.ok) render((await response.json()).stats);
      else alert(`Reset failed: HTTP ${response.status}`);
    });
  }

  render(JSON.parse(document.getElementById("initial-stats").textContent));
  if (new URLSearchParams(location.search).get("transport") === "poll") startPolling();
  else connect();
})();
