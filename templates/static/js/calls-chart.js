/* The overview's calls-per-day bar chart (uPlot). Data comes from a json_script block; the same
   figures are in a table for screen readers and for browsers without JavaScript. */
(function () {
  "use strict";
  var holder = document.getElementById("calls-chart");
  var source = document.getElementById("calls-per-day");
  if (!holder || !source || !window.uPlot) return;
  var data = JSON.parse(source.textContent);
  var height = 220;

  function options(width) {
    return {
      width: width,
      height: height,
      tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), "UTC"); },
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: {
        // Half a day of padding each side, so the first and last bars are drawn whole.
        x: { time: true, range: function (u, min, max) { return [min - 43200, max + 43200]; } },
        y: { range: function (u, min, max) { return [0, Math.max(4, Math.ceil(max * 1.15))]; } }
      },
      axes: [
        { stroke: "#6b7280", grid: { show: false }, ticks: { show: false } },
        { stroke: "#6b7280", grid: { stroke: "#eef0f4" }, ticks: { show: false }, size: 44 }
      ],
      series: [
        {},
        {
          label: "Calls",
          stroke: "#4f46e5",
          fill: "rgba(99, 102, 241, 0.85)",
          paths: window.uPlot.paths.bars({ size: [0.72, 36] }),
          points: { show: false }
        }
      ]
    };
  }

  holder.textContent = "";
  var plot = new window.uPlot(options(holder.clientWidth), [data.x, data.y], holder);
  var fallback = document.getElementById("calls-chart-table");
  if (fallback) fallback.classList.add("sr-only");
  window.addEventListener("resize", function () {
    plot.setSize({ width: holder.clientWidth, height: height });
  });
})();
