// The live price board. Fed by GET /api/v1/ltp/stream (server-sent events); the feed state
// comes from GET /api/v1/status. Prices are shown as the exact decimal text the API sends:
// they are never parsed into floating point for display (only the sparkline plots numbers).
"use strict";

(() => {
  const KEY_STORAGE = "ltp.api_key";
  const SPARK_POINTS = 120;
  const STATUS_EVERY_MS = 5000;
  const TICK_MS = 250;
  // Only when query-api has no stream (404): how often GET /api/v1/ltp is read instead.
  const POLL_MS = 500;
  const LOST = "Lost the connection to query-api (restarting or shutting down?); reconnecting…";

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  const board = {
    pairs: [],
    ttlMs: 30000,
    rows: new Map(),
    stream: null,
    streamOpened: false,
    polling: false,
    retryTimer: 0,
  };

  // --- the API key -------------------------------------------------------------------------

  const apiKey = () => sessionStorage.getItem(KEY_STORAGE) || "";
  const headers = () => (apiKey() ? { "X-API-Key": apiKey() } : {});

  function askForKey(refused) {
    stopStream();
    $("board").hidden = true;
    setConnection("offline", "needs an API key");
    const form = $("key-form");
    form.hidden = false;
    showMessage(refused ? "The API key was refused (Invalid API key). Enter another one." : "");
    $("key-input").value = "";
    $("key-input").focus();
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key-input").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    $("key-form").hidden = true;
    showMessage("");
    start();
  });

  // --- messages and states -----------------------------------------------------------------

  function showMessage(text, kind) {
    const box = $("message");
    box.textContent = text;
    box.hidden = !text;
    box.dataset.kind = kind || "error";
  }

  function setConnection(state, text) {
    const pill = $("connection");
    pill.dataset.state = state;
    pill.textContent = text;
  }

  async function bodyMessage(response) {
    try {
      const body = await response.json();
      return body.message || body.error || "";
    } catch (_) {
      return "";
    }
  }

  // Words for a refused request: the same for the stream, the status and the first read.
  async function refusal(response) {
    const detail = await bodyMessage(response);
    const retry = response.headers.get("Retry-After");
    const later = retry ? ` Retrying in ${retry} s.` : " Retrying shortly.";
    switch (response.status) {
      case 401:
        return { auth: true };
      case 429:
        return { text: `Too many requests from this address (429).${later}`, retryS: +retry || 5 };
      case 503:
        return { text: `The service is unavailable (503)${detail ? ": " + detail : ""}.${later}`, retryS: +retry || 3 };
      default:
        return { text: `Unexpected answer ${response.status}${detail ? ": " + detail : ""}.${later}`, retryS: 5 };
    }
  }

  // --- decimals, compared as text ------------------------------------------------------------

  function compareDecimals(a, b) {
    const split = (s) => {
      const neg = s.startsWith("-");
      const [int, frac = ""] = (neg ? s.slice(1) : s).split(".");
      return { neg, int: int.replace(/^0+(?=\d)/, ""), frac: frac.replace(/0+$/, "") };
    };
    const x = split(a);
    const y = split(b);
    if (x.neg !== y.neg) return x.neg ? -1 : 1;
    const sign = x.neg ? -1 : 1;
    if (x.int.length !== y.int.length) return sign * (x.int.length < y.int.length ? -1 : 1);
    if (x.int !== y.int) return sign * (x.int < y.int ? -1 : 1);
    const width = Math.max(x.frac.length, y.frac.length);
    const fx = x.frac.padEnd(width, "0");
    const fy = y.frac.padEnd(width, "0");
    if (fx === fy) return 0;
    return sign * (fx < fy ? -1 : 1);
  }

  // --- rows ----------------------------------------------------------------------------------

  function makeRow(pair) {
    const tr = el("tr", "row");
    tr.dataset.pair = pair;
    tr.dataset.state = "waiting";
    const cell = (cls) => {
      const td = el("td", cls);
      tr.appendChild(td);
      return td;
    };
    const name = el("th", "pair", pair);
    name.scope = "row";
    tr.appendChild(name);
    const price = cell("num price");
    price.textContent = "—";
    const change = cell("change");
    const arrow = el("span", "arrow", "");
    arrow.setAttribute("aria-hidden", "true");
    const word = el("span", "word", "");
    change.append(arrow, word);
    const age = cell("num age");
    const source = cell("source");
    const badge = el("span", "badge", "");
    source.appendChild(badge);
    const state = cell("state");
    state.textContent = "waiting for a price";
    const spark = cell("spark");
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 100 24");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `${pair} prices since the page opened`);
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    svg.appendChild(line);
    spark.appendChild(svg);
    const actions = cell("actions");
    const button = el("button", "refresh", "Refresh");
    button.type = "button";
    button.setAttribute("aria-label", `Refresh ${pair} from Kraken now`);
    const outcome = el("span", "outcome", "");
    outcome.setAttribute("role", "status");
    actions.append(button, outcome);
    button.addEventListener("click", () => refresh(row));
    const row = {
      pair, tr, price, arrow, word, age, badge, state, line, button, outcome,
      current: null, receivedAt: 0, ageAtReceipt: 0, unavailable: null, history: [],
    };
    return row;
  }

  function render(pairs) {
    const body = $("rows");
    body.textContent = "";
    board.rows.clear();
    for (const pair of pairs) {
      const row = makeRow(pair);
      board.rows.set(pair, row);
      body.appendChild(row.tr);
    }
    $("board").hidden = false;
  }

  function applyPrice(item) {
    const row = board.rows.get(item.pair);
    if (!row) return;
    const previous = row.current;
    if (previous && previous.price !== item.price) {
      const cmp = compareDecimals(item.price, previous.price);
      if (cmp !== 0) {
        row.tr.dataset.direction = cmp > 0 ? "up" : "down";
        row.arrow.textContent = cmp > 0 ? "▲" : "▼";
        row.word.textContent = cmp > 0 ? `up from ${previous.price}` : `down from ${previous.price}`;
      }
    } else if (!previous) {
      row.tr.dataset.direction = "none";
      row.arrow.textContent = "•";
      row.word.textContent = "first price";
    }
    if (!previous || previous.price !== item.price || previous.timestamp !== item.timestamp) {
      row.history.push(Number(item.price));
      if (row.history.length > SPARK_POINTS) row.history.shift();
      drawSpark(row);
    }
    row.current = item;
    row.unavailable = null;
    row.receivedAt = performance.now();
    row.ageAtReceipt = Number(item.age_ms) || 0;
    row.price.textContent = item.price;
    row.badge.textContent = item.source;
    row.badge.dataset.source = item.source;
    row.badge.title = item.source === "ws" ? "from Kraken's WebSocket" : "from Kraken's REST API";
    updateAge(row, performance.now());
  }

  function applyUnavailable(pair, reason) {
    const row = board.rows.get(pair);
    if (!row) return;
    row.unavailable = reason || "not available";
    updateAge(row, performance.now());
  }

  function drawSpark(row) {
    const values = row.history;
    if (values.length < 2) {
      row.line.setAttribute("points", "");
      return;
    }
    const min = Math.min(...values);
    const max = Math.max(...values);
    const span = max - min || 1;
    const step = 100 / (values.length - 1);
    const points = values.map((v, i) => {
      const x = i * step;
      const y = 22 - ((v - min) / span) * 20;
      return `${x.toFixed(2)},${y.toFixed(2)}`;
    });
    row.line.setAttribute("points", points.join(" "));
  }

  function formatAge(ms) {
    if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
    const minutes = Math.floor(ms / 60000);
    return `${minutes} min ${Math.floor((ms % 60000) / 1000)} s`;
  }

  function updateAge(row, now) {
    let state;
    let text;
    if (!row.current) {
      state = row.unavailable ? "unavailable" : "waiting";
      text = row.unavailable ? `unavailable: ${row.unavailable}` : "waiting for a price";
      row.age.textContent = "—";
    } else {
      const age = row.ageAtReceipt + (now - row.receivedAt);
      row.age.textContent = formatAge(age);
      if (row.unavailable) {
        state = "unavailable";
        text = `unavailable: ${row.unavailable}`;
      } else if (age > board.ttlMs) {
        state = "unavailable";
        text = "unavailable: older than the TTL";
      } else if (age > board.ttlMs / 2) {
        state = "ageing";
        text = "ageing";
      } else {
        state = "fresh";
        text = "fresh";
      }
    }
    if (row.tr.dataset.state !== state) row.tr.dataset.state = state;
    if (row.state.textContent !== text) row.state.textContent = text;
  }

  setInterval(() => {
    const now = performance.now();
    for (const row of board.rows.values()) updateAge(row, now);
  }, TICK_MS);

  // --- refresh -------------------------------------------------------------------------------

  const REFRESH_WORDS = {
    200: "refreshed",
    401: "refused: API key missing or invalid",
    429: "refused: too many requests, try again later",
    502: "Kraken failed",
    503: "unavailable: no ingestor is running",
    504: "timed out: the ingestor did not answer in time",
  };

  async function refresh(row) {
    row.button.disabled = true;
    row.outcome.textContent = "refreshing…";
    row.outcome.dataset.kind = "busy";
    try {
      const url = `/api/v1/ltp/refresh?pairs=${encodeURIComponent(row.pair)}`;
      const response = await fetch(url, { method: "POST", headers: headers() });
      let body = {};
      try { body = await response.json(); } catch (_) { /* words below */ }
      let words = REFRESH_WORDS[response.status] || `failed (${response.status})`;
      if (response.status === 502) {
        const error = (body.errors || [])[0];
        words = `Kraken failed: ${error ? error.message : body.message || "no detail"}`;
      } else if (response.status !== 200 && body.message) {
        words = `${words.split(":")[0]}: ${body.message}`;
      }
      for (const item of body.ltp || []) applyPrice(item);
      row.outcome.textContent = `${words} at ${new Date().toTimeString().slice(0, 8)}`;
      row.outcome.dataset.kind = response.status === 200 ? "ok" : "error";
      if (response.status === 401) askForKey(Boolean(apiKey()));
    } catch (_) {
      row.outcome.textContent = "failed: query-api could not be reached";
      row.outcome.dataset.kind = "error";
    } finally {
      row.button.disabled = false;
    }
  }

  // --- feed status ---------------------------------------------------------------------------

  function describeFeed(status) {
    if (!status.nats_connected) return { state: "down", text: "feed: this replica is not connected to NATS" };
    if (!status.ingestor_present) {
      const seen = status.ingestor_last_seen ? `, last heard of at ${new Date(status.ingestor_last_seen).toTimeString().slice(0, 8)}` : "";
      return { state: "down", text: `feed: no ingestor heard of within the TTL${seen}` };
    }
    const parts = [`socket ${status.socket}`];
    const fallback = status.fallback_pairs.length;
    parts.push(fallback ? `${fallback} pair${fallback > 1 ? "s" : ""} on REST fallback (${status.fallback_pairs.join(", ")})` : "no pair on REST fallback");
    if (status.unavailable_pairs.length) parts.push(`unavailable: ${status.unavailable_pairs.join(", ")}`);
    const n = status.ingestors.filter((i) => i.present).length;
    parts.push(`${n} ingestor${n > 1 ? "s" : ""} present`);
    const state = status.socket === "connected" && !fallback ? "ok" : "degraded";
    return { state, text: `feed: ${parts.join(" · ")}` };
  }

  async function fetchStatus() {
    const response = await fetch("/api/v1/status", { headers: headers() });
    if (!response.ok) return { response };
    return { response, status: await response.json() };
  }

  async function pollStatus() {
    if (!$("key-form").hidden) return;
    try {
      const { status } = await fetchStatus();
      if (status) {
        board.ttlMs = status.ttl_ms;
        const feed = describeFeed(status);
        $("feed").textContent = feed.text;
        $("feed").dataset.state = feed.state;
      }
    } catch (_) {
      $("feed").textContent = "feed: status unknown (query-api unreachable)";
      $("feed").dataset.state = "down";
    }
  }

  // --- the stream ----------------------------------------------------------------------------

  function stopStream() {
    if (board.stream) board.stream.close();
    board.stream = null;
    board.polling = false;
    clearTimeout(board.retryTimer);
  }

  function streamUrl() {
    const params = new URLSearchParams();
    params.set("pair", board.pairs.join(","));
    if (apiKey()) params.set("api_key", apiKey());
    return `/api/v1/ltp/stream?${params}`;
  }

  function parse(event) {
    try {
      return JSON.parse(event.data);
    } catch (_) {
      return null;
    }
  }

  function openStream() {
    stopStream();
    const source = new EventSource(streamUrl());
    board.stream = source;
    source.addEventListener("open", () => {
      board.streamOpened = true;
      setConnection("live", "live");
      showMessage("");
    });
    source.addEventListener("price", (event) => {
      const item = parse(event);
      if (item && item.pair) applyPrice(item);
    });
    source.addEventListener("unavailable", (event) => {
      const data = parse(event);
      if (data && data.pair) applyUnavailable(data.pair, data.message || data.error || data.reason);
    });
    // The server's last event before it ends the stream: `shutdown` or `slow`.
    source.addEventListener("close", (event) => {
      const data = parse(event) || {};
      setConnection("reconnecting", "reconnecting…");
      const why = data.reason === "slow"
        ? "This page fell behind the stream"
        : "query-api is shutting down";
      showMessage(`${why}; reconnecting…`, "info");
    });
    source.addEventListener("error", () => {
      if (source !== board.stream) return;
      if (source.readyState === EventSource.CONNECTING) {
        setConnection("reconnecting", "reconnecting…");
        if ($("message").hidden) showMessage(LOST, "info");
        return;
      }
      // Closed: refused with a status (EventSource does not say which); ask again to learn it.
      setConnection("reconnecting", "reconnecting…");
      diagnose();
    });
  }

  async function diagnose() {
    let wait = 3;
    try {
      const controller = new AbortController();
      const response = await fetch(streamUrl(), { signal: controller.signal, headers: headers() });
      controller.abort();
      if (response.status === 404) return startPolling();
      if (!response.ok) {
        const why = await refusal(response);
        if (why.auth) return askForKey(Boolean(apiKey()));
        showMessage(why.text);
        wait = why.retryS;
      }
    } catch (_) {
      showMessage("query-api cannot be reached; retrying…", "info");
    }
    clearTimeout(board.retryTimer);
    board.retryTimer = setTimeout(openStream, wait * 1000);
  }

  // --- polling, for a query-api without the stream --------------------------------------------

  async function pollPrices() {
    if (!board.polling) return;
    try {
      const response = await fetch(`/api/v1/ltp?pair=${encodeURIComponent(board.pairs.join(","))}`, { headers: headers() });
      if (response.status === 401) return askForKey(Boolean(apiKey()));
      if ([200, 206, 503].includes(response.status)) {
        const body = await response.json();
        for (const item of body.ltp || []) applyPrice(item);
        for (const error of body.errors || []) applyUnavailable(error.pair, error.message);
        setConnection("live", "live (polling)");
        showMessage("");
      } else {
        const why = await refusal(response);
        showMessage(why.text);
        setConnection("reconnecting", "reconnecting…");
        board.retryTimer = setTimeout(pollPrices, why.retryS * 1000);
        return;
      }
    } catch (_) {
      setConnection("reconnecting", "reconnecting…");
      showMessage(LOST, "info");
    }
    board.retryTimer = setTimeout(pollPrices, POLL_MS);
  }

  function startPolling() {
    board.polling = true;
    clearTimeout(board.retryTimer);
    pollPrices();
  }

  // --- start ---------------------------------------------------------------------------------

  function requestedPairs(all) {
    const asked = new URLSearchParams(location.search).get("pair");
    if (!asked || !asked.trim()) return { pairs: all };
    return { asked };
  }

  async function start() {
    stopStream();
    setConnection("connecting", "connecting…");
    let first;
    try {
      first = await fetchStatus();
    } catch (_) {
      showMessage("query-api cannot be reached; retrying…", "info");
      setConnection("offline", "offline");
      board.retryTimer = setTimeout(start, 3000);
      return;
    }
    if (!first.status) {
      const why = await refusal(first.response);
      if (why.auth) return askForKey(Boolean(apiKey()));
      showMessage(why.text);
      setConnection("offline", "offline");
      board.retryTimer = setTimeout(start, why.retryS * 1000);
      return;
    }
    board.ttlMs = first.status.ttl_ms;
    const wanted = requestedPairs(first.status.pairs);
    let pairs = wanted.pairs;
    let initial = [];
    const query = wanted.asked ? `?pair=${encodeURIComponent(wanted.asked)}` : "";
    let response;
    try {
      response = await fetch(`/api/v1/ltp${query}`, { headers: headers() });
    } catch (_) {
      showMessage("query-api cannot be reached; retrying…", "info");
      board.retryTimer = setTimeout(start, 3000);
      return;
    }
    if (response.status === 400) {
      showMessage(`${await bodyMessage(response)}. Showing nothing: fix the pair in the address (or remove ?pair= for every pair).`);
      setConnection("offline", "not started");
      return;
    }
    if (response.status === 401) return askForKey(Boolean(apiKey()));
    if (![200, 206, 503].includes(response.status)) {
      const why = await refusal(response);
      showMessage(why.text);
      setConnection("offline", "offline");
      board.retryTimer = setTimeout(start, why.retryS * 1000);
      return;
    }
    try {
      const body = await response.json();
      initial = body.ltp || [];
      if (wanted.asked) {
        const named = [...initial.map((i) => i.pair), ...(body.errors || []).map((e) => e.pair)];
        pairs = [...new Set(named)].sort();
      }
      render(pairs);
      for (const item of initial) applyPrice(item);
      for (const error of body.errors || []) applyUnavailable(error.pair, error.message);
    } catch (_) {
      render(pairs);
    }
    board.pairs = pairs;
    showMessage("");
    pollStatus();
    if (await streamOffered()) openStream();
    else startPolling();
  }

  // Whether this query-api has the stream: its OpenAPI document lists every path. (Probing the
  // stream itself would log a 404 in the console of a query-api without it.)
  async function streamOffered() {
    try {
      const response = await fetch("/openapi.json", { headers: headers() });
      if (!response.ok) return true;
      const doc = await response.json();
      return Boolean(doc.paths && doc.paths["/api/v1/ltp/stream"]);
    } catch (_) {
      return true;
    }
  }

  setInterval(pollStatus, STATUS_EVERY_MS);
  start();
})();
