/* Renderers of the reference dashboard: charts on Chart.js, the zone map on Leaflet (both npm packages this
 * API serves under lib/, no CDN), matrices as HTML tables.
 * Conventions of the statistics office: "×" secret (suppressed, null in the API), "–" no such cell,
 * "." unknown. A suppressed value is never drawn as a zero or left out silently: a chart leaves a gap (no
 * bar, no point) and marks it with a × of its dataset "geheim" (flag `secret`; each point names its series).
 * Each renderer returns {cells, suppressed}: what it drew, for the page's data attributes. */
"use strict";

const Panels = (() => {
  const NF = new Intl.NumberFormat("nl-NL", {maximumFractionDigits: 1});
  const ORDER = {
    tijdVak: ["Nacht", "Ochtendspits", "Dag", "Avondspits", "Avond"],
    typeBezoeker: ["Eenmalig", "Incidenteel", "Dagelijks"],
    bedrijfsgrootte: ["Klein", "Midden", "Groot"],
    rijRichtingZone: ["Inbound", "Outbound"],
    typeOntheffing: ["Geen", "Tijdelijk", "Langdurig"],
    zeToegang: ["Toegestaan", "Overgang", "Ontheffing", "Verboden"],
    dagType: ["Werkdag", "Weekend"],
  };
  // Last in any list; "Altijd" (zeToegangTot: never loses access) after the dates it is compared with.
  const LAST = ["Buitenlands", "Overig", "Buiten venstertijden", "Altijd", "Onbekend"];
  const COLORS = {Inbound: "#1f5fa8", Outbound: "#d9731a", Verboden: "#c0392b"};
  const PALETTE = ["#1f5fa8", "#d9731a", "#2e8540", "#8e44ad", "#c0392b", "#0b7a75", "#7f8c8d"];
  const SECRET = "#3d4757";

  Chart.defaults.animation = false;  // redrawn on every choice; and a test reads the finished chart
  Chart.defaults.font.family = '"DejaVu Sans", "Liberation Sans", Arial, sans-serif';
  Chart.defaults.font.size = 11;

  function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    for (const c of children) el.append(c);
    return el;
  }
  const fmt = v => NF.format(v);
  const rank = (dim, v) => {
    const fixed = (ORDER[dim] || []).indexOf(v);
    if (fixed >= 0) return fixed;
    const last = LAST.indexOf(v);
    return last >= 0 ? 1000 + last : 100;
  };
  function order(dim, values) {
    const unique = [...new Set(values)];
    return unique.sort((a, b) => rank(dim, a) - rank(dim, b) ||
      (typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b), "nl")));
  }
  function shade(ratio) {
    const light = 96 - Math.round(ratio * 58);
    return {background: `hsl(212, 60%, ${light}%)`, dark: light < 55};
  }
  const max = (rows, m) => rows.reduce((acc, r) => (r[m] === null ? acc : Math.max(acc, r[m])), 0);

  /* Matrix of rows x columns; every other dimension fixed by the view's selects. */
  function heat(el, rows, o) {
    const rowKey = r => o.rows.map(d => r[d]).join(" · ");
    const byFirst = order(o.rows[0], rows.map(r => r[o.rows[0]]));
    const rowKeys = [...new Set(rows.slice().sort((a, b) =>
      byFirst.indexOf(a[o.rows[0]]) - byFirst.indexOf(b[o.rows[0]])).map(rowKey))];
    const cols = order(o.cols, rows.map(r => r[o.cols]));
    const cells = new Map(rows.map(r => [rowKey(r) + "\u0000" + r[o.cols], r]));
    const top = max(rows, o.measure) || 1;
    const table = h("table", {class: "heat"});
    const head = h("tr", {}, h("th", {}, o.rows.join(" · ")));
    cols.forEach(c => head.append(h("th", {}, String(c))));
    table.append(h("thead", {}, head));
    const body = h("tbody");
    let drawn = 0, secret = 0;
    for (const key of rowKeys) {
      const tr = h("tr", {}, h("th", {}, key));
      for (const c of cols) {
        const r = cells.get(key + "\u0000" + c);
        let td;
        if (!r) td = h("td", {class: "nil", title: "geen cel"}, "–");
        else if (r[o.measure] === null) {
          td = h("td", {class: "suppressed", title: "geheim (onderdrukt)"}, "×");
          drawn++; secret++;
        } else {
          const tone = shade(r[o.measure] / top);
          td = h("td", {class: tone.dark ? "dark" : "", title: `${key} / ${c}: ${fmt(r[o.measure])}`},
            fmt(r[o.measure]));
          td.style.background = tone.background;
          drawn++;
        }
        tr.append(td);
      }
      body.append(tr);
    }
    table.append(body);
    el.append(table);
    return {cells: drawn, suppressed: secret};
  }

  /* The × marks of a chart's secret cells, each in its series' colour, on a hidden 0-1 axis of their own:
   * at the top of a line chart (where no value is), at the base of a bar chart (where its bar would start).
   * Never stacked. */
  function secretMarks(points, horizontal, line) {
    const at = line ? 0.97 : 0.02;
    return {type: "line", label: "geheim (onderdrukt)", secret: true, showLine: false, clip: false, stack: "geheim",
      data: points.map(p => (horizontal ? {x: at, y: p.x, series: p.series} : {x: p.x, y: at, series: p.series})),
      pointStyle: "crossRot", pointRadius: 6, pointHoverRadius: 8, pointBorderWidth: 2.5, borderColor: SECRET,
      backgroundColor: SECRET, pointBorderColor: points.map(p => p.color || SECRET), [horizontal ? "xAxisID" : "yAxisID"]: "geheim", order: -1};
  }

  // Legend items as point styles; the secret marks' item in one neutral colour (its points take their series').
  const LEGEND = {usePointStyle: true, boxWidth: 8, generateLabels: c => Chart.defaults.plugins.legend.labels
    .generateLabels(c).map(item => (c.data.datasets[item.datasetIndex].secret
      ? {...item, strokeStyle: SECRET, fillStyle: SECRET} : item))};

  function chart(parent, config, width, height) {
    const canvas = h("canvas", {width, height, role: "img"});
    parent.append(h("div", {class: "chart"}, canvas));
    const horizontal = config.options.indexAxis === "y";
    const value = horizontal ? "x" : "y";
    config.options = {responsive: false, ...config.options};
    config.options.scales = {...config.options.scales,
      [value]: {beginAtZero: true, ticks: {callback: v => fmt(v)}, ...(config.options.scales || {})[value]},
      geheim: {type: "linear", axis: value, display: false, min: 0, max: 1}};
    config.options.plugins = {legend: {labels: LEGEND},
      tooltip: {callbacks: {label: ctx => (ctx.dataset.secret ? `${ctx.raw.series}: × geheim (onderdrukt, niet 0)`
        : `${ctx.dataset.label}: ${fmt(ctx.parsed[value])}`)}}, ...config.options.plugins};
    return new Chart(canvas, config);
  }

  /* A measure over an x dimension, a dataset per value of o.series (bars or lines). Each x is a label;
   * a cell the table does not have is a gap without a mark, a secret cell a gap with ×. */
  function xy(parent, rows, o) {
    const xs = o.xs || order(o.x, rows.map(r => r[o.x]));
    const names = o.names || order(o.series, rows.map(r => r[o.series]));
    const line = o.type === "line";
    const secret = [];
    let cells = 0;
    const datasets = names.map((name, k) => {
      const color = COLORS[name] || PALETTE[k % PALETTE.length];
      const at = new Map(rows.filter(r => r[o.series] === name).map(r => [String(r[o.x]), r]));
      const data = xs.map(x => {
        const r = at.get(String(x));
        if (!r) return null;
        cells++;
        if (r[o.measure] !== null) return r[o.measure];
        secret.push({x: String(x), series: String(name), color});
        return null;  // a gap: neither a zero nor an interpolation
      });
      return {type: o.type, label: String(name), data, borderColor: color, backgroundColor: color,
        borderWidth: line ? 1.6 : 0, pointRadius: line ? 2.5 : 0, spanGaps: false,
        ...(o.stacked ? {stack: "cellen"} : {})};
    });
    if (secret.length) datasets.push(secretMarks(secret, false, line));
    const tick = o.tick || (v => v);
    chart(parent, {type: o.type, data: {labels: xs.map(String), datasets},
      options: {scales: {x: {stacked: !!o.stacked, ticks: {callback: v => tick(xs[v])}},
        y: {stacked: !!o.stacked, suggestedMax: o.top}}}},
    o.width || 560, o.height || 240);
    return {cells, suppressed: secret.length};
  }

  /* The highest bar, point or stack of `rows` (secret cells count nothing). */
  function top(rows, o) {
    if (!o.stacked) return max(rows, o.measure);
    const sums = new Map();
    for (const r of rows) {
      const key = `${r[o.panels]}\u0000${r[o.x]}`;
      sums.set(key, (sums.get(key) || 0) + (r[o.measure] || 0));
    }
    return Math.max(0, ...sums.values());
  }

  /* xy once per value of o.panels (small multiples with the same x values, colours and scale, so they
   * compare at a glance), or once. */
  function multiples(el, rows, o) {
    const panels = o.panels ? order(o.panels, rows.map(r => r[o.panels])) : [null];
    o = {...o, xs: o.xs || order(o.x, rows.map(r => r[o.x])), names: order(o.series, rows.map(r => r[o.series])),
      top: top(rows, o)};
    const grid = h("div", {class: o.panels ? "multiples" : "single"});
    el.append(grid);  // charts go into the page as they are made: Chart.js measures them there
    let cells = 0, suppressed = 0;
    for (const name of panels) {
      const mine = name === null ? rows : rows.filter(r => r[o.panels] === name);
      const box = h("figure", name === null ? {} : {"data-panel": String(name)});
      if (name !== null) box.append(h("figcaption", {}, String(name)));
      grid.append(box);
      const result = xy(box, mine, o);
      cells += result.cells; suppressed += result.suppressed;
    }
    return {cells, suppressed};
  }

  /* Horizontal bars, a bar per row; a secret value gets no length, only a × at the base. */
  function bars(el, rows, o) {
    const label = r => o.bars.map(d => r[d]).join(" · ");
    const byFirst = order(o.bars[0], rows.map(r => r[o.bars[0]]));
    const sorted = rows.slice().sort((a, b) => byFirst.indexOf(a[o.bars[0]]) - byFirst.indexOf(b[o.bars[0]]) ||
      String(label(a)).localeCompare(String(label(b)), "nl"));
    const labels = sorted.map(label);
    const secret = sorted.filter(r => r[o.measure] === null).map(r => ({x: label(r), series: label(r)}));
    const datasets = [{label: o.measure, data: sorted.map(r => r[o.measure]), backgroundColor: "#3b7dc4"}];
    if (secret.length) datasets.push(secretMarks(secret, true, false));
    chart(el, {type: "bar", data: {labels, datasets}, options: {indexAxis: "y", scales: {y: {ticks: {autoSkip: false}}},
      plugins: {legend: {display: secret.length > 0, labels: LEGEND}}}},
    o.width || 600, 40 + sorted.length * 20);
    return {cells: sorted.length, suppressed: secret.length};
  }

  /* Table 4.9: the zone total and a bar chart per vehicle characteristic. */
  function overview(el, rows, o) {
    const totals = rows.filter(r => r.kenmerk === "totaal");
    const kpis = h("div", {class: "kpis"});
    for (const m of o.measures) {
      const v = totals.length ? totals[0][m] : undefined;
      kpis.append(h("div", {class: "kpi"}, h("b", v === null ? {class: "secret"} : {},
        v === undefined ? "–" : v === null ? "×" : fmt(v)), h("span", {}, `${m} (totaal)`)));
    }
    const groups = h("div", {class: "groups"});
    el.append(kpis, groups);
    let drawn = totals.length, secret = totals.filter(r => r[o.measure] === null).length;
    for (const k of order("kenmerk", rows.filter(r => r.kenmerk !== "totaal").map(r => r.kenmerk))) {
      const box = h("div", {"data-kenmerk": k}, h("h3", {}, k));
      groups.append(box);
      const result = bars(box, rows.filter(r => r.kenmerk === k), {bars: ["waarde"], measure: o.measure, width: 330});
      drawn += result.cells; secret += result.suppressed;
    }
    return {cells: drawn, suppressed: secret};
  }

  /* A measure over months (GET /v1/tables/{t}/series): a line per value of o.series. A secret month is a
   * gap with ×, a month without a release "–" after its label on the axis: neither is a zero. */
  function trend(el, rows, o) {
    const monthOf = r => `${r.jaar}-${String(r.maand).padStart(2, "0")}`;
    const missing = new Set(o.months.filter(m => m.releaseId === null).map(m => m.month));
    return xy(el, rows.map(r => ({...r, maandLabel: monthOf(r)})), {type: "line", x: "maandLabel",
      xs: o.months.map(m => m.month), series: o.series, measure: o.measure, width: 560, height: 250,
      tick: m => (missing.has(m) ? `${m} –` : m)});
  }

  /* Zone polygon and cameras (table 4.12) on Leaflet without tiles (no tile server offline): the
   * polygon, a dot per camera coloured by its worst availability, a line in its viewing direction. */
  function map(el, zone, cameras) {
    const box = h("div", {class: "map"}), side = h("div", {}, box);
    el.append(side);
    const outline = L.geoJSON(zone, {style: {color: "#0b7a75", weight: 2, fillOpacity: 0.12, className: "zone"}});
    const byCamera = new Map();
    for (const f of cameras) byCamera.set(f.properties.cameraId, [...(byCamera.get(f.properties.cameraId) || []), f]);
    const rowsOut = [], marks = [];
    const bounds = outline.getBounds();
    for (const list of byCamera.values()) {
      for (const f of list) rowsOut.push(f.properties);
      // A camera without a position (null geometry) is listed under the map but has no dot on it.
      if (list[0].geometry === null) continue;
      const p = list[0].properties, [lon, lat] = list[0].geometry.coordinates;
      const avail = list.map(f => f.properties.beschikbaarheidsPercentage).filter(v => v !== null);
      const worst = avail.length ? Math.min(...avail) : null;
      const color = worst === null ? "#8a94a6" : worst >= 95 ? "#2e8540" : worst >= 80 ? "#d9a400" : "#c0392b";
      if (p.kijkRichtingGraden !== null) marks.push({at: [lat, lon], degrees: p.kijkRichtingGraden});
      marks.push(L.circleMarker([lat, lon], {radius: 7, color: "#fff", weight: 2, fillColor: color, fillOpacity: 1,
        className: "camera"}).bindTooltip(`${p.cameraNaam}: ${worst === null ? "beschikbaarheid onbekend"
        : `beschikbaar ${fmt(worst)}%`}`));
      bounds.extend([lat, lon]);
    }
    // The view first: Leaflet clips a vector layer to the view it is added in.
    const m = L.map(box, {attributionControl: false, zoomSnap: 0.25, scrollWheelZoom: false});
    m.fitBounds(bounds, {padding: [30, 30]});
    outline.addTo(m);
    for (const mark of marks) {
      if (mark.degrees === undefined) {
        mark.addTo(m);
        continue;
      }
      // The viewing direction: 24 pixels at the fitted zoom, drawn under the dots added after it.
      const a = mark.degrees * Math.PI / 180, from = m.latLngToLayerPoint(mark.at);
      const ahead = m.layerPointToLatLng(from.add(L.point(24 * Math.sin(a), -24 * Math.cos(a))));
      L.polyline([mark.at, ahead], {color: "#16324f", weight: 2, className: "direction"}).addTo(m);
    }
    const table = h("table", {class: "heat"});
    const heads = ["camera", "detectie", "rijrichting", "beschikbaar %"].map(t => h("th", {}, t));
    table.append(h("thead", {}, h("tr", {}, ...heads)));
    const body = h("tbody");
    for (const p of rowsOut) {
      const v = p.beschikbaarheidsPercentage;
      body.append(h("tr", {}, h("th", {}, p.cameraNaam), h("td", {}, p.detectieRichting || "."),
        h("td", {}, p.rijRichtingZone || "."), v === null ? h("td", {class: "unknown", title: "onbekend"}, ".")
          : h("td", {}, fmt(v))));
    }
    table.append(body);
    const legend = h("div", {class: "legend"});
    const classes = [["#2e8540", "≥ 95%"], ["#d9a400", "80-95%"], ["#c0392b", "< 80%"], ["#8a94a6", "onbekend"]];
    for (const [color, text] of classes) {
      const dot = h("i", {class: "dot"});
      dot.style.background = color;
      legend.append(h("span", {}, dot, `beschikbaar ${text}`));
    }
    side.append(legend);
    el.append(table);
    return {cells: byCamera.size, suppressed: 0};
  }

  /* Empty `el`, releasing the charts in it (Chart.js keeps each chart in a registry until destroyed). */
  function clear(el) {
    for (const canvas of el.querySelectorAll("canvas")) Chart.getChart(canvas)?.destroy();
    el.replaceChildren();
  }

  return {h, order, clear, heat, multiples, bars, overview, trend, map};
})();
