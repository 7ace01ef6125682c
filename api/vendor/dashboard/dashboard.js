/* Reference dashboard: every number on the page comes from the vendor API, with the key the user gives.
 * The key is kept in memory only and removed from the address bar (it must not end up in history or
 * in a shared link). */
"use strict";

(() => {
  const {h, order} = Panels;
  const API = new URL("../v1/", window.location.href);
  const PAGE = 5000;  // a month of table 4.1 for one zone in a few requests
  const CONSTANT = new Set(["gemeenteCode", "zoneId", "zoneAanduiding", "zoneNaam", "maand", "jaar"]);
  const HOURS = Array.from({length: 24}, (_, u) => u);
  // Views per table number: which fields go on the axes (x, a dataset per series, a chart per panel value;
  // rows x cols of a matrix). Every other key field gets a select, set to `defaults` or the busiest value.
  const VIEWS = {
    "4.12": {kind: "map", wide: true},
    "4.1": {kind: "multiples", type: "line", x: "uur", xs: HOURS, tick: u => `${u}u`, series: "rijRichtingZone",
      panels: "locatie", width: 300, height: 170, wide: true},
    "4.2": {kind: "heat", rows: ["SBI08GroepCode", "SBI08Omschrijving"], cols: "tijdVak"},
    "4.3": {kind: "heat", rows: ["vensterTijd"], cols: "weekDag"},
    "4.4": {kind: "bars", bars: ["herkomstProvincie", "herkomstNuts3"]},
    "4.5": {kind: "heat", rows: ["herkomstProvincie"], cols: "typeBezoeker"},
    "4.6": {kind: "heat", rows: ["SBI08GroepCode", "SBI08Omschrijving"], cols: "typeBezoeker"},
    "4.7": {kind: "heat", rows: ["bedrijfsgrootte"], cols: "typeBezoeker"},
    "4.8a": {kind: "heat", rows: ["SBI08GroepCode", "SBI08Omschrijving"], cols: "typeVoertuig"},
    "4.8b": {kind: "heat", rows: ["typeBrandstof", "emissieklasse"], cols: "typeVoertuig"},
    "4.8c": {kind: "heat", rows: ["typeCarrosserie"], cols: "typeVoertuig"},
    "4.8d": {kind: "heat", rows: ["bedrijfsgrootte"], cols: "typeVoertuig"},
    "4.8e": {kind: "heat", rows: ["SBI08GroepCode", "SBI08Omschrijving"], cols: "typeBrandstof"},
    "4.9": {kind: "overview", wide: true},
    // Exemptions held on the day of passage, by vehicle type; workdays and weekend side by side.
    "5.2": {kind: "multiples", type: "bar", x: "typeVoertuig", series: "typeOntheffing", panels: "dagType",
      width: 460, wide: true},
    // Non-compliance: passages without access or exemption, per week of the month and day part.
    "5.3": {kind: "multiples", type: "bar", x: "weekVanMaand", tick: w => `week ${w}`, series: "tijdVak",
      defaults: {zeToegang: "Verboden"}},
    // ZE impact: per vehicle type, who loses access at each coming date, stacked by emission class.
    "5.4": {kind: "multiples", type: "bar", x: "zeToegangTot", series: "emissieklasse", panels: "typeVoertuig",
      stacked: true, width: 420, height: 250, wide: true},
    // Out-of-scope detections (anonymous counts) at 4.1's grain: the same small multiples, to read beside it.
    "5.5": {kind: "multiples", type: "line", x: "uur", xs: HOURS, tick: u => `${u}u`, series: "rijRichtingZone",
      panels: "locatie", width: 300, height: 170, wide: true},
  };
  const state = {key: "", tables: [], releases: [], zones: []};
  const $ = id => document.getElementById(id);

  function status(text, error = false) {
    $("status").textContent = text;
    $("status").className = error ? "error" : "";
  }

  async function api(path, params = {}) {
    const url = new URL(path, API);
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) url.searchParams.set(k, v);
    // Without a key the API serves the open layer: its tables only, counts rounded.
    const headers = state.key ? {"X-API-Key": state.key, "Accept": "application/json"} : {"Accept": "application/json"};
    const res = await fetch(url, {headers});
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      const e = body.error || {};
      throw new Error(`${res.status} ${e.message || res.statusText}${e.hint ? " (" + e.hint + ")" : ""}`);
    }
    return body;
  }

  async function allRows(table, params) {
    let rows = [], cursor = null;
    do {
      const page = await api(`tables/${table}/rows`, {...params, limit: PAGE, cursor});
      rows = rows.concat(page.rows);
      cursor = page.nextCursor;
    } while (cursor);
    return rows;
  }

  function readUrl() {
    const url = new URL(window.location.href);
    const hash = new URLSearchParams(url.hash.slice(1));
    const wanted = {key: hash.get("key") || url.searchParams.get("key"),
      zone: url.searchParams.get("zone"), month: url.searchParams.get("month")};
    if (wanted.key) {
      url.searchParams.delete("key");
      hash.delete("key");
      url.hash = hash.toString();
      history.replaceState(null, "", url.toString());
    }
    return wanted;
  }

  function fill(select, options, chosen) {
    select.replaceChildren(...options.map(([value, label]) => h("option", {value}, label)));
    if (chosen && options.some(([v]) => v === chosen)) select.value = chosen;
    select.disabled = options.length === 0;
  }

  async function connect(wanted = {}) {
    state.key = $("key").value.trim();
    status(state.key ? "Verbinden…" : "Verbinden zonder sleutel: open data, aantallen afgerond…");
    try {
      const [tables, releases, places] = await Promise.all([api("tables"), api("releases"), api("municipalities")]);
      state.tables = tables.tables;
      state.releases = releases.releases;
      state.zones = places.municipalities.flatMap(m => m.zones.map(z => ({...z, gemeente: m.gemeente})));
    } catch (err) {
      return status(`API: ${err.message}`, true);
    }
    fill($("zone"), state.zones.map(z => [z.zoneId, `${z.gemeente} · ${z.zoneNaam}`]), wanted.zone);
    const months = state.releases.slice().reverse();
    const byMonth = months.find(r => r.month === wanted.month);
    fill($("month"), months.map(r => [r.releaseId, r.month]), byMonth && byMonth.releaseId);
    if (!state.zones.length) return status("Uw contract omvat geen gemeente met een zone.", true);
    if (!state.releases.length) return status("Nog geen release gepubliceerd.", true);
    status(`${state.zones.length} zone(s), ${state.releases.length} maand(en)` +
      (state.key ? "" : `, ${state.tables.length} open tabel(len), aantallen afgerond`) + ". Kies een zone en maand.");
    if (wanted.zone || wanted.month) await show();
    return true;
  }

  function keyFields(info) {
    return info.columns.filter(c => c.role === "dimension" && !CONSTANT.has(c.name)).map(c => c.name);
  }

  function viewFor(info) {
    const view = VIEWS[info.number];
    const fields = keyFields(info);
    const has = f => info.columns.some(c => c.name === f);
    const axes = view ? [...(view.rows || []), ...(view.bars || []), view.cols, view.x, view.series, view.panels] : [];
    if (view && axes.filter(Boolean).every(has)) return view;
    if (info.kind === "overview") return {kind: "overview", wide: true};
    return {kind: "heat", rows: [fields[0]], cols: fields[1] || fields[0]};  // a table the page does not know
  }

  function section(info, view) {
    const el = h("section", {class: "view" + (view.wide ? " wide" : ""), "data-view": info.number,
      "data-kind": view.kind, "data-table": info.table, "data-state": "loading"},
    h("h2", {}, `Tabel ${info.number} · ${info.title}`), h("p", {class: "purpose"}, info.purpose),
    h("div", {class: "toolbar"}), h("div", {class: "body"}), h("p", {class: "note"}, "Laden…"));
    $("views").append(el);
    return el;
  }

  function done(el, result, note) {
    el.dataset.state = result.cells > 0 ? "ready" : "empty";
    el.dataset.cells = result.cells;
    el.dataset.suppressed = result.suppressed;
    el.querySelector(".note").textContent = note || (result.cells > 0
      ? `${result.cells} cellen getoond, waarvan ${result.suppressed} geheim (×).`
      : "Geen cellen voor deze keuze.");
  }

  function fail(el, state_, text) {
    el.dataset.state = state_;
    el.querySelector(".note").textContent = text;
  }

  function controls(el, info, view, rows, redraw) {
    const axes = new Set([...(view.rows || []), view.cols, ...(view.bars || []), view.x, view.series, view.panels]);
    const labels = new Set(info.columns.filter(c => c.role === "label").map(c => c.name));
    const picks = view.kind === "overview" || view.kind === "map" ? []
      : keyFields(info).filter(f => !axes.has(f) && !labels.has(f) && !(view.panels === "locatie" && f === "cameraId"));
    const measures = info.measures;
    const chosen = {measure: measures[0]};
    const bar = el.querySelector(".toolbar");
    const select = (name, values, value) => {
      const sel = h("select", {"data-pick": name});
      fill(sel, values.map(v => [String(v), String(v)]), String(value));
      sel.addEventListener("change", () => { chosen[name] = sel.value; redraw(chosen); });
      bar.append(h("label", {}, `${name} `, sel));
      chosen[name] = sel.value;
    };
    if (measures.length > 1) select("measure", measures, measures[0]);
    for (const f of picks) {
      // Default: the value with the most published activity, so the first view is not mostly empty.
      const totals = new Map();
      for (const r of rows) totals.set(r[f], (totals.get(r[f]) || 0) + (r[chosen.measure] || 0) + 1e-9);
      const best = [...totals.entries()].sort((a, b) => b[1] - a[1])[0];
      const wanted = (view.defaults || {})[f];
      select(f, order(f, rows.map(r => r[f])), totals.has(wanted) ? wanted : best ? best[0] : "");
    }
    return {chosen, picks};
  }

  async function renderTable(info, release, zoneId) {
    const view = viewFor(info);
    const el = section(info, view);
    if (!release.tables.includes(info.table)) return fail(el, "missing", "Niet in deze release.");
    try {
      if (view.kind === "map") {
        const [zone, cameras] = await Promise.all([api(`zones/${encodeURIComponent(zoneId)}`),
          api("cameras", {zoneId, release: release.releaseId})]);
        return done(el, Panels.map(el.querySelector(".body"), zone, cameras.features));
      }
      const rows = await allRows(info.table, {zoneId, release: release.releaseId});
      const draw = chosen => {
        const body = el.querySelector(".body");
        Panels.clear(body);
        const mine = rows.filter(r => picks.every(f => String(r[f]) === chosen[f]));
        const o = {...view, measure: chosen.measure, measures: info.measures};
        done(el, Panels[view.kind](body, mine, o));
      };
      const {chosen, picks} = controls(el, info, view, rows, draw);
      draw(chosen);
    } catch (err) {
      fail(el, "error", `Fout: ${err.message}`);
    }
  }

  const TREND = {measure: "aantalUniekeVoertuigen", characteristics: ["emissieklasse", "typeBrandstof"]};
  const MAX_MONTHS = 36;  // the series endpoint's cap

  function monthsBack(month, n) {
    const [y, m] = month.split("-").map(Number), i = y * 12 + m - 1 - n;
    return `${Math.floor(i / 12)}-${String(i % 12 + 1).padStart(2, "0")}`;
  }

  /* The fleet's emission classes and fuels month by month in the zone: the overview table's totals per
   * characteristic, from each month's latest release (the series endpoint), over every published month. */
  async function renderTrend(zoneId) {
    const info = state.tables.find(t => TREND.characteristics.every(c => (t.characteristics || []).includes(c)));
    if (!info) return;
    const el = h("section", {class: "view wide trend", "data-trend": info.table, "data-state": "loading"},
      h("h2", {}, `Vloot per maand · ${TREND.measure} (tabel ${info.number})`),
      h("p", {class: "purpose"}, "Hoe de voertuigen in de zone zich ontwikkelen naar emissieklasse en brandstof; " +
        "elke maand uit haar laatste release."), h("div", {class: "body"}), h("p", {class: "note"}, "Laden…"));
    $("views").prepend(el);
    const months = state.releases.map(r => r.month).sort();
    const to = months[months.length - 1];
    const from = months[0] < monthsBack(to, MAX_MONTHS - 1) ? monthsBack(to, MAX_MONTHS - 1) : months[0];
    try {
      const answers = await Promise.all(TREND.characteristics.map(kenmerk =>
        api(`tables/${info.table}/series`, {measure: TREND.measure, from, to, zoneId, kenmerk})));
      let cells = 0, suppressed = 0;
      answers.forEach((answer, k) => {
        const box = h("figure", {"data-kenmerk": TREND.characteristics[k]}, h("h3", {}, TREND.characteristics[k]));
        el.querySelector(".body").append(box);  // in the page before Chart.js measures it
        const result = Panels.trend(box, answer.rows, {series: "waarde", measure: TREND.measure,
          months: answer.months});
        cells += result.cells; suppressed += result.suppressed;
      });
      const missing = answers[0].months.filter(m => m.releaseId === null).map(m => m.month);
      done(el, {cells, suppressed}, `${from} t/m ${to}: ${cells} waarden, waarvan ${suppressed} geheim (×)` +
        (missing.length ? `; geen release voor ${missing.join(", ")} (–).` : "."));
    } catch (err) {
      fail(el, "error", `Fout: ${err.message}`);
    }
  }

  async function show(event) {
    if (event) event.preventDefault();
    if (!state.tables.length || $("key").value.trim() !== state.key) {
      await connect();
      if (!state.tables.length) return;
    }
    const zoneId = $("zone").value, release = state.releases.find(r => r.releaseId === $("month").value);
    if (!zoneId || !release) return status("Kies een zone en een maand.", true);
    Panels.clear($("views"));
    document.body.dataset.state = "loading";
    status(`Laden: ${zoneId}, ${release.month} (release ${release.releaseId})…`);
    const first = info => (info.kind === "cameras" ? 0 : 1);  // the map on top
    const ordered = state.tables.slice().sort((a, b) => first(a) - first(b));
    await Promise.all([renderTrend(zoneId), ...ordered.map(info => renderTable(info, release, zoneId))]);
    const views = [...document.querySelectorAll("section.view[data-table]")];
    const errors = views.filter(v => v.dataset.state === "error").length;
    const trendFailed = document.querySelector('section.trend[data-state="error"]') !== null;
    status(`${zoneId}, ${release.month}: ${views.length - errors} van ${views.length} tabellen geladen` +
      (errors ? `, ${errors} met een fout` : "") + (trendFailed ? "; vloot per maand met een fout." : "."),
    errors > 0 || trendFailed);
    document.body.dataset.state = "ready";
  }

  document.addEventListener("DOMContentLoaded", () => {
    const wanted = readUrl();
    $("controls").addEventListener("submit", show);
    $("key").addEventListener("change", () => connect());
    if (wanted.key) {
      $("key").value = wanted.key;
      connect(wanted);
    }
  });
  window.addEventListener("hashchange", () => {  // a key pasted into the address bar of the open page
    const wanted = readUrl();
    if (wanted.key) {
      $("key").value = wanted.key;
      connect(wanted);
    }
  });
})();
