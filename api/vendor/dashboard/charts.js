/* Renderers of the reference dashboard: plain DOM and SVG, no library (the page must work offline).
 * Conventions of the statistics office: "×" secret (suppressed, null in the API), "–" no such cell,
 * "." unknown. A suppressed value is never drawn as a zero or left out silently.
 * Each renderer returns {cells, suppressed}: what it drew, for the page's data attributes. */
"use strict";

const Charts = (() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const NF = new Intl.NumberFormat("nl-NL", {maximumFractionDigits: 1});
  const ORDER = {
    tijdVak: ["Nacht", "Ochtendspits", "Dag", "Avondspits", "Avond"],
    typeBezoeker: ["Eenmalig", "Incidenteel", "Dagelijks"],
    bedrijfsgrootte: ["Klein", "Midden", "Groot"],
    rijRichtingZone: ["Inbound", "Outbound"],
  };
  const LAST = ["Buitenlands", "Overig", "Buiten venstertijden", "Onbekend"];
  const SERIES = {Inbound: "#1f5fa8", Outbound: "#d9731a"};
  const PALETTE = ["#1f5fa8", "#d9731a", "#2e8540", "#8e44ad", "#c0392b", "#0b7a75", "#7f8c8d"];

  function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    for (const c of children) el.append(c);
    return el;
  }
  function s(tag, attrs = {}, parent = null, text = null) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== null) el.textContent = text;
    if (parent) parent.appendChild(el);
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

  /* Hourly profile: one small chart per camera, a line per driving direction; × on top for secret hours. */
  function profile(el, rows, o) {
    const panels = order(o.title, rows.map(r => r[o.title]));
    const top = max(rows, o.measure) || 1;
    const W = 300, H = 150, L = 34, R = 8, T = 16, B = 22;
    const x = u => L + (u / 23) * (W - L - R);
    const y = v => T + (1 - v / top) * (H - T - B);
    const legend = h("div", {class: "legend"});
    for (const d of Object.keys(SERIES)) legend.append(h("span", {}, h("i", {class: `swatch ${d}`}), d));
    legend.append(h("span", {}, "× bovenin = geheim uur"));
    const grid = h("div", {class: "multiples"});
    let drawn = 0, secret = 0;
    for (const name of panels) {
      const mine = rows.filter(r => r[o.title] === name);
      const svg = s("svg", {viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img"});
      s("line", {x1: L, y1: y(0), x2: W - R, y2: y(0), stroke: "#8a94a6"}, svg);
      s("text", {x: L - 4, y: y(top) + 4, "text-anchor": "end", "font-size": 9}, svg, fmt(top));
      s("text", {x: L - 4, y: y(0), "text-anchor": "end", "font-size": 9}, svg, "0");
      for (const u of [0, 6, 12, 18, 23]) {
        s("text", {x: x(u), y: H - 6, "text-anchor": "middle", "font-size": 9}, svg, `${u}u`);
      }
      for (const d of order(o.series, mine.map(r => r[o.series]))) {
        const color = SERIES[d] || "#555";
        const byHour = new Map(mine.filter(r => r[o.series] === d).map(r => [r[o.x], r]));
        let path = "";
        for (let u = 0; u < 24; u++) {
          const r = byHour.get(u);
          if (!r || r[o.measure] === null) {
            if (r) {
              s("text", {x: x(u), y: T - 3, "text-anchor": "middle", "font-size": 11, fill: color,
                class: "secret"}, svg, "×");
              drawn++; secret++;
            }
            path += " ";  // a gap: neither a zero nor an interpolation
            continue;
          }
          path += (path.endsWith(" ") || path === "" ? "M" : "L") + `${x(u).toFixed(1)},${y(r[o.measure]).toFixed(1)}`;
          s("circle", {cx: x(u), cy: y(r[o.measure]), r: 1.8, fill: color}, svg);
          drawn++;
        }
        s("path", {d: path.trim().replace(/ +/g, " "), fill: "none", stroke: color, "stroke-width": 1.6}, svg);
      }
      grid.append(h("figure", {}, h("figcaption", {}, String(name)), svg));
    }
    el.append(legend, grid);
    return {cells: drawn, suppressed: secret};
  }

  /* Horizontal bars; a secret value gets a hatched stub and the word "geheim", never a length. */
  function bars(el, rows, o) {
    const label = r => o.bars.map(d => r[d]).join(" · ");
    const byFirst = order(o.bars[0], rows.map(r => r[o.bars[0]]));
    const sorted = rows.slice().sort((a, b) => byFirst.indexOf(a[o.bars[0]]) - byFirst.indexOf(b[o.bars[0]]) ||
      String(label(a)).localeCompare(String(label(b)), "nl"));
    const top = max(rows, o.measure) || 1;
    const LW = o.labelWidth || 230, W = o.width || 600, BH = 18;
    const svg = s("svg", {viewBox: `0 0 ${W} ${sorted.length * BH + 4}`, width: W, height: sorted.length * BH + 4,
      role: "img"});
    let secret = 0;
    sorted.forEach((r, i) => {
      const yy = i * BH + 2;
      s("text", {x: LW - 6, y: yy + 12, "text-anchor": "end", "font-size": 11}, svg, label(r));
      if (r[o.measure] === null) {
        s("rect", {x: LW, y: yy + 2, width: 34, height: BH - 5, fill: "url(#hatch)", class: "secret"}, svg);
        s("text", {x: LW + 40, y: yy + 12, "font-size": 11, fill: "#3d4757"}, svg, "× geheim");
        secret++;
        return;
      }
      const w = Math.max(1, (r[o.measure] / top) * (W - LW - 70));
      s("rect", {x: LW, y: yy + 2, width: w, height: BH - 5, fill: "#3b7dc4"}, svg);
      s("text", {x: LW + w + 4, y: yy + 12, "font-size": 11}, svg, fmt(r[o.measure]));
    });
    el.append(svg);
    return {cells: sorted.length, suppressed: secret};
  }

  /* Table 4.9: the zone total and one bar group per vehicle characteristic. */
  function overview(el, rows, o) {
    const totals = rows.filter(r => r.kenmerk === "totaal");
    const kpis = h("div", {class: "kpis"});
    for (const m of o.measures) {
      const v = totals.length ? totals[0][m] : undefined;
      kpis.append(h("div", {class: "kpi"}, h("b", {}, v === undefined ? "–" : v === null ? "×" : fmt(v)),
        h("span", {}, `${m} (totaal)`)));
    }
    const groups = h("div", {class: "groups"});
    let drawn = totals.length, secret = totals.filter(r => r[o.measure] === null).length;
    for (const k of order("kenmerk", rows.filter(r => r.kenmerk !== "totaal").map(r => r.kenmerk))) {
      const box = h("div", {}, h("h3", {}, k));
      const result = bars(box, rows.filter(r => r.kenmerk === k),
        {bars: ["waarde"], measure: o.measure, width: 330, labelWidth: 120});
      drawn += result.cells; secret += result.suppressed;
      groups.append(box);
    }
    el.append(kpis, groups);
    return {cells: drawn, suppressed: secret};
  }

  /* A measure over months (GET /v1/tables/{t}/series): a line per value of o.series, months on the x axis.
   * A secret month is a gap with × on top, a month without a release is "–" on the axis: neither is a zero. */
  function trend(el, rows, o) {
    const months = o.months.map(m => m.month);
    const monthOf = r => `${r.jaar}-${String(r.maand).padStart(2, "0")}`;
    const names = order(o.series, rows.map(r => r[o.series]));
    const top = max(rows, o.measure) || 1;
    const W = 560, H = 210, L = 44, R = 36, T = 18, B = 28;
    const x = i => L + (months.length > 1 ? i / (months.length - 1) : 0.5) * (W - L - R);
    const y = v => T + (1 - v / top) * (H - T - B);
    const svg = s("svg", {viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img"});
    s("line", {x1: L, y1: y(0), x2: W - R, y2: y(0), stroke: "#8a94a6"}, svg);
    s("text", {x: L - 4, y: y(top) + 4, "text-anchor": "end", "font-size": 9}, svg, fmt(top));
    s("text", {x: L - 4, y: y(0), "text-anchor": "end", "font-size": 9}, svg, "0");
    o.months.forEach((m, i) => {
      const missing = m.releaseId === null;
      s("text", {x: x(i), y: H - 8, "text-anchor": "middle", "font-size": 9, class: missing ? "missing" : "month",
        "data-month": m.month}, svg, missing ? `${m.month} –` : m.month);
    });
    const legend = h("div", {class: "legend"});
    let drawn = 0, secret = 0;
    names.forEach((name, k) => {
      const color = PALETTE[k % PALETTE.length];
      const byMonth = new Map(rows.filter(r => r[o.series] === name).map(r => [monthOf(r), r]));
      let path = "";
      months.forEach((month, i) => {
        const r = byMonth.get(month);
        const at = {"data-month": month, "data-series": String(name)};
        if (!r || r[o.measure] === null) {
          if (r) {
            s("text", {x: x(i), y: T - 4, "text-anchor": "middle", "font-size": 11, fill: color, class: "secret",
              ...at}, svg, "×");
            drawn++; secret++;
          }
          path += " ";  // a gap: neither a zero nor an interpolation
          return;
        }
        path += (path.endsWith(" ") || path === "" ? "M" : "L") + `${x(i).toFixed(1)},${y(r[o.measure]).toFixed(1)}`;
        const dot = s("circle", {cx: x(i), cy: y(r[o.measure]), r: 2.5, fill: color, class: "point",
          "data-value": r[o.measure], ...at}, svg);
        s("title", {}, dot, `${name}, ${month}: ${fmt(r[o.measure])}`);
        drawn++;
      });
      s("path", {d: path.trim().replace(/ +/g, " "), fill: "none", stroke: color, "stroke-width": 1.6}, svg);
      const swatch = h("i", {class: "swatch"});
      swatch.style.background = color;
      legend.append(h("span", {}, swatch, String(name)));
    });
    el.append(legend, svg);
    return {cells: drawn, suppressed: secret};
  }

  /* Zone polygon and cameras (table 4.12): a dot per camera, its viewing direction, availability. */
  function map(el, zone, cameras) {
    const polygons = zone.geometry.type === "MultiPolygon" ? zone.geometry.coordinates : [zone.geometry.coordinates];
    const rings = polygons.flat(1);
    const pts = rings.flat(1).concat(cameras.map(f => f.geometry.coordinates));
    const lat0 = pts.reduce((a, p) => a + p[1], 0) / pts.length;
    const k = Math.cos(lat0 * Math.PI / 180);
    const xs = pts.map(p => p[0] * k), ys = pts.map(p => p[1]);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const W = 620, H = 420, pad = 40;
    const scale = Math.min((W - 2 * pad) / (x1 - x0 || 1e-3), (H - 2 * pad) / (y1 - y0 || 1e-3));
    const px = p => [pad + (p[0] * k - x0) * scale, pad + (y1 - p[1]) * scale];
    const svg = s("svg", {viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img"});
    s("rect", {width: W, height: H, fill: "#eef2f6"}, svg);
    const outline = rings.map(r => "M" + r.map(px).map(p => p.map(v => v.toFixed(1)).join(",")).join("L") + "Z");
    s("path", {d: outline.join(" "), "fill-rule": "evenodd", fill: "rgba(11,122,117,0.12)", stroke: "#0b7a75",
      "stroke-width": 2}, svg);
    const byCamera = new Map();
    for (const f of cameras) {
      const list = byCamera.get(f.properties.cameraId) || [];
      list.push(f);
      byCamera.set(f.properties.cameraId, list);
    }
    const rowsOut = [];
    for (const list of byCamera.values()) {
      const p = list[0].properties, [cx, cy] = px(list[0].geometry.coordinates);
      const avail = list.map(f => f.properties.beschikbaarheidsPercentage).filter(v => v !== null);
      const worst = avail.length ? Math.min(...avail) : null;
      const color = worst === null ? "#8a94a6" : worst >= 95 ? "#2e8540" : worst >= 80 ? "#d9a400" : "#c0392b";
      if (p.kijkRichtingGraden !== null) {
        const a = p.kijkRichtingGraden * Math.PI / 180;
        s("line", {x1: cx, y1: cy, x2: cx + 22 * Math.sin(a), y2: cy - 22 * Math.cos(a), stroke: "#16324f",
          "stroke-width": 2}, svg);
      }
      s("circle", {cx, cy, r: 7, fill: color, stroke: "#fff", "stroke-width": 2, class: "camera"}, svg);
      s("text", {x: cx + 10, y: cy - 8, "font-size": 11}, svg, p.cameraNaam);
      for (const f of list) rowsOut.push(f.properties);
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
    el.append(h("div", {}, svg, legend), table);
    return {cells: byCamera.size, suppressed: 0};
  }

  return {h, order, heat, profile, bars, overview, trend, map};
})();
