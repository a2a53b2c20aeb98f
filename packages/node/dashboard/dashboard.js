// The Curator dashboard page: reads the JSON API of the server that serves
// it, and refreshes what is shown whenever the live feed (/api/events)
// reports a change. Every value from the database is put in the page as
// text (textContent, never HTML), so a message or a param cannot inject markup.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);

  /** An element with properties (class, title, dataset entries) and children (nodes or text). */
  const el = (tag, props = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "class") node.className = value;
      else if (key === "data") Object.assign(node.dataset, value);
      else node[key] = value;
    }
    node.append(...children.map((child) => (child instanceof Node ? child : String(child ?? ""))));
    return node;
  };

  const fillRows = (tbody, rows) => tbody.replaceChildren(...rows);
  const num = (value) => el("td", { class: "num" }, value);

  const fmt = {
    ms: (value) => (value === null || value === undefined ? "–" : value < 10 ? value.toFixed(2) : value.toFixed(1)),
    bytes: (value) => {
      if (value === null || value === undefined) return "–";
      const units = ["B", "KiB", "MiB", "GiB", "TiB"];
      let unit = 0;
      while (Math.abs(value) >= 1024 && unit < units.length - 1) {
        value /= 1024;
        unit++;
      }
      return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
    },
    duration: (seconds) => {
      if (!Number.isFinite(seconds) || seconds < 0) return "–";
      if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
      if (seconds < 60) return `${seconds.toFixed(1)} s`;
      const total = Math.round(seconds);
      if (total < 3600) return `${Math.floor(total / 60)}m${String(total % 60).padStart(2, "0")}s`;
      return `${Math.floor(total / 3600)}h${String(Math.floor((total % 3600) / 60)).padStart(2, "0")}m`;
    },
    time: (iso) => (iso ? iso.slice(0, 19).replace("T", " ") : "–"),
    id: (id) => (id ? id.slice(0, 8) : "–")
  };

  /** GETs a JSON API path; an error answer becomes an Error with the server's message. */
  const api = async (path) => {
    const response = await fetch(path, { headers: { accept: "application/json" } });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
    return body;
  };

  const showProblem = (message) => {
    $("problem").hidden = message === undefined;
    $("problem").textContent = message ?? "";
  };

  const state = {
    tab: "overview",
    indices: { range: "", status: "all", page: 1, pages: 1 },
    detail: undefined,
    logs: { query: "", lastId: 0, follow: true, loaded: false }
  };

  // Overview ----------------------------------------------------------------

  const showSummary = (summary) => {
    $("db-path").textContent = summary.db_path;
    $("config-hash").textContent = summary.config_hash;
    $("card-completed").textContent = summary.completed;
    $("card-failed").textContent = summary.failed;
    $("card-remaining").textContent = summary.remaining;
    $("card-total").textContent = summary.total;
    $("card-elapsed").textContent = fmt.duration(summary.elapsed_s);
    $("card-mean").textContent = summary.completed === 0 ? "–" : `${fmt.ms(summary.avg_time_ms)} ms`;
    const share = (count) => (summary.total === 0 ? 0 : (100 * count) / summary.total);
    $("progress-done").style.width = `${share(summary.completed)}%`;
    $("progress-failed").style.width = `${share(summary.failed)}%`;
  };

  const indexLink = (index) =>
    el("a", { href: `#index-${index}`, class: "index-link", data: { index: String(index) } }, index);

  const showPipeline = (pipeline) => {
    const box = (kind, component) =>
      el(
        "div",
        { class: `component ${kind}` },
        el("div", { class: "kind" }, kind),
        el("div", { class: "name" }, component.name),
        el("pre", { class: "params" }, JSON.stringify(component.params ?? {}, null, 2))
      );
    if (pipeline === null) {
      $("pipeline").replaceChildren(el("p", { class: "hint" }, "the recorded configuration could not be read"));
      return;
    }
    const parts = [box("source", pipeline.source), ...pipeline.filters.map((f) => box("filter", f)), box("sink", pipeline.sink)];
    $("pipeline").replaceChildren(...parts.flatMap((part, i) => (i === 0 ? [part] : [el("div", { class: "arrow" }, "→"), part])));
  };

  // The worker filter offers the latest invocation's workers and every other label the logs
  // recorded (the Python reference logs process names such as ForkServerProcess-1).
  const showWorkerChoices = (workers, labels) => {
    const select = document.querySelector("#log-query select[name=worker]");
    const chosen = select.value;
    const known = new Set(workers.map((w) => w.workerId));
    const options = [
      el("option", { value: "" }, "all"),
      ...workers.map((w) => el("option", { value: w.workerId }, `${fmt.id(w.workerId)} (pid ${w.pid})`)),
      ...labels.filter((label) => !known.has(label)).map((label) => el("option", { value: label }, label))
    ];
    select.replaceChildren(...options);
    select.value = options.some((o) => o.value === chosen) ? chosen : "";
  };

  // Failed indices in quarantine: runs skip them until a reset lifts it.
  const showQuarantined = (count) => {
    if (count !== undefined) $("card-quarantined").textContent = count;
  };

  // Stale (busy far too long: probably dead) says more than the watchdog's stalled.
  const workerState = (w) => (w.stale ? "stale" : w.state);

  const showRun = (run) => {
    if (run === undefined) return;
    $("card-run-span").textContent = fmt.duration(run.spanS);
    $("card-run-rate").textContent = run.ratePerS === null ? "–" : `${run.ratePerS.toFixed(run.ratePerS < 10 ? 2 : 0)}/s`;
    $("card-run-workers").textContent = `${run.invocations} · ${run.processes}`;
  };

  const showOverview = (view) => {
    showSummary(view.summary);
    showQuarantined(view.quarantined);
    $("card-rate").textContent = view.ratePerS === null ? "–" : `${view.ratePerS.toFixed(view.ratePerS < 10 ? 2 : 0)}/s`;
    $("stale-hint").textContent =
      `a worker busy on one index for more than ${fmt.duration(view.staleAfterS)} is marked stale; ` +
      "stalled: the run's watchdog saw its index produce nothing new for a while (stallAfter)";
    showWorkerChoices(view.workers, view.workerLabels);
    showRun(view.run);
    fillRows(
      $("workers").tBodies[0],
      view.workers.map((w) =>
        el(
          "tr",
          { class: w.stale || w.state === "stalled" ? workerState(w) : "" },
          el("td", { title: w.workerId }, el("code", {}, fmt.id(w.workerId))),
          el("td", {}, w.pid),
          el("td", {}, w.hostname),
          el("td", {}, w.currentIndex === null ? "idle" : indexLink(w.currentIndex)),
          num(w.completedCount),
          num(w.items ?? "–"),
          num(`${fmt.duration(w.heartbeatAgeS)} ago`),
          el("td", { class: "state" }, workerState(w))
        )
      )
    );
    showPipeline(view.pipeline);
    fillRows(
      $("stage-timing").tBodies[0],
      view.stages.map((s) => el("tr", {}, el("td", {}, s.name), num(s.count), num(fmt.ms(s.meanMs)), num(fmt.ms(s.totalMs))))
    );
    fillRows(
      $("latest-outputs").tBodies[0],
      view.latestOutputs.map((o) =>
        el("tr", {}, el("td", { class: "num" }, indexLink(o.index)), el("td", {}, el("code", {}, o.path)), el("td", {}, fmt.time(o.completedAt)))
      )
    );
    fillRows(
      $("latest-errors").tBodies[0],
      view.latestErrors.map((e) =>
        el(
          "tr",
          {},
          el("td", { class: "num" }, indexLink(e.index)),
          el("td", {}, e.stage ?? "–"),
          el("td", { class: "error" }, e.error),
          el("td", {}, fmt.time(e.completedAt))
        )
      )
    );
  };

  // Indices -----------------------------------------------------------------

  const indicesPath = () => {
    const q = new URLSearchParams({ status: state.indices.status, page: String(state.indices.page) });
    if (state.indices.range !== "") q.set("range", state.indices.range);
    return `/api/indices?${q}`;
  };

  const showIndices = (view) => {
    state.indices.pages = view.pages;
    $("page-info").textContent = `page ${view.page} of ${view.pages} (${view.matching} indices)`;
    $("page-previous").disabled = view.page <= 1;
    $("page-next").disabled = view.page >= view.pages;
    fillRows(
      $("indices").tBodies[0],
      view.rows.map((row) =>
        el(
          "tr",
          { class: `status-${row.status} clickable`, data: { index: String(row.index) } },
          num(row.index),
          el("td", { class: "status" }, row.status),
          num(fmt.ms(row.wallTimeMs)),
          num(fmt.bytes(row.peakMemoryBytes)),
          el("td", {}, el("code", {}, fmt.id(row.workerId))),
          el("td", {}, row.stage ?? ""),
          el("td", { class: "error" }, row.error ?? "")
        )
      )
    );
  };

  const showDetail = (view) => {
    $("index-detail").hidden = false;
    // Opened from a link or a row: the detail sits below the table, bring it into view once.
    if (state.scrollToDetail) {
      state.scrollToDetail = false;
      queueMicrotask(() => $("index-detail").scrollIntoView({ block: "start" }));
    }
    $("detail-index").textContent = view.index;
    const facts = [
      ["status", view.status],
      ["worker", view.workerId ?? "–"],
      ["recorded at", fmt.time(view.completedAt)],
      ["wall time", view.wallTimeMs === null ? "–" : `${fmt.ms(view.wallTimeMs)} ms`],
      ["peak memory", fmt.bytes(view.peakMemoryBytes)],
      ...(view.status === "failed" || view.status === "quarantined" ? [["failed in", view.stage ?? "–"]] : []),
      ["attempts", view.attempts ?? "–"],
      ["failure class", view.failureClass ?? "–"],
      ["error", view.error ?? "–"]
    ];
    $("detail-facts").replaceChildren(...facts.flatMap(([key, value]) => [el("dt", {}, key), el("dd", { data: { fact: key } }, value)]));
    const list = (items) => (items.length === 0 ? [el("li", { class: "hint" }, "none")] : items);
    $("detail-outputs").replaceChildren(...list(view.outputs.map((path) => el("li", {}, el("code", {}, path)))));
    $("detail-artifacts").replaceChildren(
      ...list(view.artifacts.map((a) => el("li", {}, el("code", {}, a.path), ` (${a.filterName}, filter ${a.filterOrder})`)))
    );
    fillRows(
      $("detail-stages").tBodies[0],
      view.stages.map((s) => el("tr", {}, num(s.order), el("td", {}, s.name), num(fmt.ms(s.wallTimeMs))))
    );
    fillRows(
      $("detail-logs").tBodies[0],
      view.logs.map((line) =>
        el("tr", { class: `level-${line.levelName.toLowerCase()}` }, el("td", {}, fmt.time(line.timestamp)), el("td", {}, line.levelName), el("td", {}, line.loggerName), el("td", { class: "message" }, line.message))
      )
    );
  };

  // Performance -------------------------------------------------------------

  const charts = {};
  const colours = { completed: "#2e7d32", failed: "#c62828" };
  const stagePalette = ["#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#9e9d24", "#ad1457", "#4e342e", "#37474f"];

  /** Draws a chart once, then replaces its data in place (no animation) on later refreshes. */
  const drawChart = (id, type, data, options) => {
    if (typeof Chart === "undefined") throw new Error("the chart library did not load; reload the page");
    if (charts[id] !== undefined) {
      charts[id].data = data;
      charts[id].update("none");
      return;
    }
    charts[id] = new Chart($(id), { type, data, options: { animation: false, maintainAspectRatio: false, ...options } });
  };

  const showPerformance = (view) => {
    const points = (status) =>
      view.timeline
        .filter((b) => b.status === status && b.meanWallTimeMs !== null)
        .map((b) => ({ x: (b.fromIndex + b.toIndex) / 2, y: b.meanWallTimeMs }));
    drawChart("chart-wall", "scatter", {
      datasets: ["completed", "failed"].map((status) => ({ label: status, data: points(status), backgroundColor: colours[status], pointRadius: 3 }))
    }, { scales: { x: { title: { display: true, text: "index" } }, y: { title: { display: true, text: "ms" }, beginAtZero: true } } });
    drawChart("chart-stages", "bar", {
      labels: view.stageBars.map((bar) => (bar.fromIndex === bar.toIndex ? bar.fromIndex : `${bar.fromIndex}–${bar.toIndex}`)),
      datasets: view.stageNames.map((name, k) => ({
        label: name,
        data: view.stageBars.map((bar) => bar.stageMs[k]),
        backgroundColor: stagePalette[k % stagePalette.length]
      }))
    }, { scales: { x: { stacked: true, title: { display: true, text: "index" } }, y: { stacked: true, title: { display: true, text: "ms" } } } });
    drawChart("chart-memory", "bar", {
      labels: view.memoryHistogram.map((bin) => `${fmt.bytes(bin.fromBytes)}–${fmt.bytes(bin.toBytes)}`),
      datasets: [{ label: "indices", data: view.memoryHistogram.map((bin) => bin.count), backgroundColor: "#5c6bc0" }]
    }, { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } });
    fillRows(
      $("slowest").tBodies[0],
      view.slowest.map((row) =>
        el("tr", { class: `status-${row.status}` }, el("td", { class: "num" }, indexLink(row.index)), el("td", {}, row.status), num(fmt.ms(row.wallTimeMs)), el("td", {}, el("code", {}, fmt.id(row.workerId))))
      )
    );
    fillRows(
      $("stage-stats").tBodies[0],
      view.stages.map((s) => el("tr", {}, el("td", {}, s.name), num(fmt.ms(s.meanMs)), num(fmt.ms(s.medianMs)), num(fmt.ms(s.p95Ms)), num(fmt.ms(s.maxMs))))
    );
  };

  // Logs --------------------------------------------------------------------

  /** Most log lines kept in the page while following. */
  const maxLogRows = 2000;

  const logRow = (line) =>
    el(
      "tr",
      { class: `level-${line.levelName.toLowerCase()}` },
      el("td", {}, line.timestamp.slice(0, 23).replace("T", " ")),
      el("td", {}, line.levelName),
      el("td", {}, el("code", {}, fmt.id(line.workerId))),
      num(line.index ?? ""),
      el("td", {}, line.loggerName),
      el("td", { class: "message" }, line.message)
    );

  const loadLogs = async () => {
    const tbody = $("logs").tBodies[0];
    const since = state.logs.loaded ? `&sinceId=${state.logs.lastId}` : "";
    if (state.logs.loaded && !state.logs.follow) return;
    const view = await api(`/api/logs?${state.logs.query}${since}`);
    if (!state.logs.loaded) tbody.replaceChildren();
    tbody.append(...view.rows.map(logRow));
    while (tbody.rows.length > maxLogRows) tbody.deleteRow(0);
    state.logs.lastId = view.lastId;
    state.logs.loaded = true;
    if (state.logs.follow && view.rows.length > 0) $("logs-scroll").scrollTop = $("logs-scroll").scrollHeight;
  };

  // Refreshing ----------------------------------------------------------------

  const refreshers = {
    overview: async () => showOverview(await api("/api/overview")),
    indices: async () => {
      try {
        showIndices(await api(indicesPath()));
        $("index-query-error").textContent = "";
      } catch (error) {
        $("index-query-error").textContent = error.message;
      }
      if (state.detail !== undefined) showDetail(await api(`/api/index/${state.detail}`));
    },
    performance: async () => showPerformance(await api("/api/performance")),
    logs: async () => {
      try {
        await loadLogs();
        $("log-query-error").textContent = "";
      } catch (error) {
        $("log-query-error").textContent = error.message;
      }
    }
  };

  // One refresh at a time; a change reported meanwhile triggers one more.
  let refreshing = false;
  let again = false;
  let lastCostMs = 0;
  let lastEnd = 0;
  const refresh = async () => {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    try {
      do {
        again = false;
        const start = performance.now();
        await refreshers[state.tab]();
        lastEnd = performance.now();
        lastCostMs = lastEnd - start;
      } while (again);
      showProblem(undefined);
    } catch (error) {
      showProblem(error.message);
    } finally {
      refreshing = false;
    }
  };

  // Live updates refresh the view at most once per twice its last cost, so
  // that a large database is not read back to back while a run writes it.
  let scheduled = undefined;
  const refreshSoon = () => {
    if (scheduled !== undefined) return;
    const wait = Math.max(0, lastEnd + 2 * lastCostMs - performance.now());
    scheduled = setTimeout(() => {
      scheduled = undefined;
      refresh();
    }, wait);
  };

  const showTab = (tab) => {
    state.tab = tab;
    for (const button of document.querySelectorAll("nav button")) button.classList.toggle("active", button.dataset.tab === tab);
    for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== `tab-${tab}`;
    return refresh();
  };

  // Every tab and every index has its own URL (#overview, #logs, #index/42): Back works and links can be
  // shared. The address is the state: a click changes the hash, and the page follows the hash.
  const tabs = ["overview", "indices", "performance", "logs"];
  const route = async () => {
    const hash = location.hash.replace(/^#/, "");
    const index = /^index\/(\d+)$/.exec(hash);
    if (index !== null) {
      state.detail = Number(index[1]);
      state.scrollToDetail = true;
      await showTab("indices");
      return;
    }
    await showTab(tabs.includes(hash) ? hash : "overview");
  };
  const go = (hash) => {
    if (location.hash === `#${hash}`) route();
    else location.hash = hash;
  };
  const openIndex = (index) => go(`index/${index}`);

  // Wiring ------------------------------------------------------------------

  for (const button of document.querySelectorAll("nav button")) button.addEventListener("click", () => go(button.dataset.tab));
  window.addEventListener("hashchange", route);

  document.addEventListener("click", (event) => {
    const link = event.target.closest?.(".index-link");
    if (link !== null && link !== undefined) {
      event.preventDefault();
      openIndex(Number(link.dataset.index));
      return;
    }
    const row = event.target.closest?.("#indices tr[data-index]");
    if (row !== null && row !== undefined) openIndex(Number(row.dataset.index));
  });

  $("index-query").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    state.indices = { ...state.indices, range: String(form.get("range")).trim(), status: String(form.get("status")), page: 1 };
    refresh();
  });
  $("page-previous").addEventListener("click", () => {
    state.indices.page = Math.max(1, state.indices.page - 1);
    refresh();
  });
  $("page-next").addEventListener("click", () => {
    state.indices.page = Math.min(state.indices.pages, state.indices.page + 1);
    refresh();
  });

  $("log-query").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const q = new URLSearchParams();
    for (const name of ["level", "worker", "index"]) {
      const value = String(form.get(name) ?? "").trim();
      if (value !== "") q.set(name, value);
    }
    state.logs = { query: q.toString(), lastId: 0, follow: form.get("follow") !== null, loaded: false };
    refresh();
  });
  document.querySelector("#log-query input[name=follow]").addEventListener("change", (event) => {
    state.logs.follow = event.target.checked;
  });

  const feed = new EventSource("/api/events");
  feed.addEventListener("open", () => {
    $("live").textContent = "live";
    $("live").className = "live on";
  });
  feed.addEventListener("error", () => {
    $("live").textContent = "reconnecting…";
    $("live").className = "live off";
  });
  feed.addEventListener("update", (event) => {
    const update = JSON.parse(event.data);
    showSummary(update.summary);
    showQuarantined(update.quarantined);
    showRun(update.run);
    refreshSoon();
  });
  feed.addEventListener("failure", (event) => showProblem(JSON.parse(event.data).message));

  route();
})();
