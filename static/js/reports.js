/* The report pages (templates/reporting/): charts, sortable tables, rate bars, the period form.
 * Wired through data- attributes; no inline scripts (a strict Content-Security-Policy can forbid them).
 *
 *   <canvas data-chart="ID">       draws the chart described by <script type="application/json" id="ID">
 *                                  (built by reporting/views.py): {type, labels, datasets: [{label, data,
 *                                  color | colors, type: "line", axis: "y1", dashed}], horizontal, stacked,
 *                                  percent, y1Percent, valueTitle, links: [url per label], valueLabels}.
 *                                  With `links`, clicking a bar opens its leads.
 *   <span data-bar="41.2">         a share bar: its width, in percent (set here, as style attributes in
 *                                  templates are off limits).
 *   <table data-sortable>          each <th data-sort="number|text"> header sorts the table; the k-th
 *                                  sortable header sorts by the k-th cell of each body row, on the cell's
 *                                  data-sort-value (empty values always sort last).
 *   <form data-report-filters>     picking a date switches the period to "Custom dates"; picking a preset
 *                                  applies it at once and leaves the dates out of the URL.
 */
(function () {
  "use strict";

  const PALETTE = ["#2c5282", "#f6ad55", "#0aa2c0", "#6f42c1", "#20c997", "#dc3545", "#e0a800", "#6c757d"];

  function formatNumber(value, percent) {
    if (value === null || value === undefined) return "—";
    if (percent) return value.toLocaleString(undefined, { maximumFractionDigits: 1 }) + "%";
    return value.toLocaleString(undefined, { maximumFractionDigits: 2 });
  }

  // Writes each bar's value at its end, for charts whose spec asks for it.
  const valueLabels = {
    id: "batonValueLabels",
    afterDatasetsDraw(chart, args, options) {
      if (!options || !options.enabled) return;
      const ctx = chart.ctx;
      ctx.save();
      ctx.font = "600 12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
      ctx.fillStyle = "#334155";
      chart.data.datasets.forEach(function (dataset, index) {
        const meta = chart.getDatasetMeta(index);
        if (meta.hidden || meta.type === "line") return;
        meta.data.forEach(function (bar, i) {
          const value = dataset.data[i];
          if (value === null || value === undefined) return;
          const text = formatNumber(value, options.percent);
          if (chart.options.indexAxis === "y") {
            ctx.textAlign = "left";
            ctx.textBaseline = "middle";
            ctx.fillText(text, bar.x + 6, bar.y);
          } else {
            ctx.textAlign = "center";
            ctx.textBaseline = "bottom";
            ctx.fillText(text, bar.x, bar.y - 4);
          }
        });
      });
      ctx.restore();
    },
  };

  function buildConfig(spec, width) {
    const horizontal = Boolean(spec.horizontal);
    const valueAxis = horizontal ? "x" : "y";
    const categoryAxis = horizontal ? "y" : "x";
    let hasY1 = false;
    const datasets = spec.datasets.map(function (source, index) {
      const color = source.color || PALETTE[index % PALETTE.length];
      const dataset = { label: source.label, data: source.data };
      if (source.type === "line") {
        Object.assign(dataset, {
          type: "line", borderColor: color, backgroundColor: color, borderWidth: 2, pointRadius: 3,
          cubicInterpolationMode: "monotone", spanGaps: true, order: 0,
        });
        if (source.dashed) dataset.borderDash = [6, 4];
      } else {
        Object.assign(dataset, {
          backgroundColor: source.colors || color, borderRadius: 4, maxBarThickness: horizontal ? 26 : 56, order: 1,
        });
      }
      if (source.axis === "y1") {
        dataset.yAxisID = "y1";
        hasY1 = true;
      }
      return dataset;
    });
    const scales = {};
    scales[categoryAxis] = {
      stacked: Boolean(spec.stacked),
      grid: { display: false },
      ticks: {
        // Long names (campaigns) are cut to fit about a third of the chart's width, so the bars
        // keep their room; the tooltip has them whole.
        callback: function (value) {
          const label = String(this.getLabelForValue(value));
          const room = horizontal ? Math.max(8, Math.min(28, Math.floor(width / 18))) : 24;
          return label.length > room ? label.slice(0, room - 1) + "…" : label;
        },
      },
    };
    scales[valueAxis] = {
      beginAtZero: true,
      stacked: Boolean(spec.stacked),
      title: { display: Boolean(spec.valueTitle), text: spec.valueTitle || "" },
      ticks: spec.percent ? { callback: function (v) { return v + "%"; } } : { precision: 0 },
    };
    if (hasY1) {
      scales.y1 = {
        position: "right", beginAtZero: true, max: spec.y1Percent ? 100 : undefined, grid: { drawOnChartArea: false },
        ticks: spec.y1Percent ? { callback: function (v) { return v + "%"; } } : {},
      };
    }
    const links = spec.links || null;
    const config = {
      type: spec.type || "bar",
      data: { labels: spec.labels, datasets: datasets },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        layout: { padding: { top: spec.valueLabels && !horizontal ? 18 : 4, right: spec.valueLabels && horizontal ? 48 : 8 } },
        scales: scales,
        plugins: {
          legend: { display: datasets.length > 1, position: "bottom", labels: { boxWidth: 12 } },
          tooltip: {
            callbacks: {
              label: function (item) {
                const percent = item.dataset.yAxisID === "y1" ? spec.y1Percent : spec.percent;
                return item.dataset.label + ": " + formatNumber(item.raw, percent);
              },
              footer: function () { return links ? "Click to see these leads" : ""; },
            },
          },
          batonValueLabels: { enabled: Boolean(spec.valueLabels), percent: Boolean(spec.percent) },
        },
      },
      plugins: [valueLabels],
    };
    if (links) {
      config.options.onClick = function (event, elements) {
        if (elements.length && links[elements[0].index]) window.location.href = links[elements[0].index];
      };
      config.options.onHover = function (event, elements) {
        event.native.target.classList.toggle("is-clickable", elements.length > 0);
      };
    }
    return config;
  }

  function drawCharts() {
    if (typeof window.Chart === "undefined") return;
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      const source = document.getElementById(canvas.dataset.chart);
      if (!source) return;
      const spec = JSON.parse(source.textContent);
      if (spec.horizontal) {
        // Horizontal bars: as tall as the groups need, so three groups are not stretched and
        // fifteen are not squeezed.
        const bars = spec.stacked ? 1 : spec.datasets.filter(function (d) { return d.type !== "line"; }).length;
        const legend = spec.datasets.length > 1 ? 28 + 16 * Math.ceil(spec.datasets.length / 5) : 0;
        const height = 56 + legend + spec.labels.length * (bars * 16 + 14);
        canvas.parentElement.style.height = Math.max(160, Math.min(height, 720)) + "px";
      }
      const chart = new window.Chart(canvas, buildConfig(spec, canvas.parentElement.clientWidth));
      canvas.baton = chart;
    });
  }

  function sizeBars() {
    document.querySelectorAll("[data-bar]").forEach(function (bar) {
      const width = parseFloat(bar.dataset.bar);
      bar.style.width = (isNaN(width) ? 0 : Math.max(0, Math.min(width, 100))) + "%";
    });
  }

  function sortValue(cell, numeric) {
    const raw = cell ? (cell.dataset.sortValue !== undefined ? cell.dataset.sortValue : cell.textContent.trim()) : "";
    if (raw === "") return null;
    if (!numeric) return raw.toLocaleLowerCase();
    const number = parseFloat(raw);
    return isNaN(number) ? null : number;
  }

  function makeSortable(table) {
    const headers = Array.from(table.querySelectorAll("thead th[data-sort]"));
    const body = table.tBodies[0];
    if (!body) return;
    headers.forEach(function (header, column) {
      const button = header.querySelector(".sort-button");
      if (!button) return;
      const numeric = header.dataset.sort === "number";
      button.addEventListener("click", function () {
        const current = header.getAttribute("aria-sort");
        const ascending = current ? current === "descending" : !numeric;
        headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
        header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const rows = Array.from(body.rows).filter(function (row) { return row.cells.length > 1; });
        rows.sort(function (a, b) {
          const x = sortValue(a.cells[column], numeric);
          const y = sortValue(b.cells[column], numeric);
          if (x === y) return 0;
          if (x === null) return 1;
          if (y === null) return -1;
          const order = numeric ? x - y : x.localeCompare(y);
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }

  function wireFilters(form) {
    const period = form.querySelector("[data-report-period]");
    const dates = Array.from(form.querySelectorAll("[data-report-date]"));
    if (!period) return;
    dates.forEach(function (input) {
      input.addEventListener("change", function () { period.value = "custom"; });
    });
    period.addEventListener("change", function () {
      if (period.value !== "custom") form.requestSubmit();
      else if (dates.length) dates[0].focus();
    });
    form.addEventListener("submit", function () {
      // A preset is relative to today: leave the dates out so a shared link stays "the last 30 days".
      if (period.value === "custom") return;
      dates.forEach(function (input) { input.disabled = true; });
      window.setTimeout(function () { dates.forEach(function (input) { input.disabled = false; }); }, 0);
    });
  }

  function start() {
    sizeBars();
    document.querySelectorAll("table[data-sortable]").forEach(makeSortable);
    document.querySelectorAll("form[data-report-filters]").forEach(wireFilters);
    drawCharts();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
