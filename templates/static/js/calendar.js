/* Calendar pages. The week view is server-rendered with each block's place in data-* attributes
   (percent of the visible hours, lane of overlapping bookings); this file turns them into
   positions, so no inline style is needed. Without it the blocks read as a list per day.
   The hours editor gets "+ Interval", "Closed" and "Copy Monday" buttons. */
(function () {
  "use strict";

  function layoutWeek(week) {
    week.querySelectorAll("[data-top]").forEach(function (block) {
      block.style.top = block.getAttribute("data-top") + "%";
      if (block.hasAttribute("data-height")) block.style.height = block.getAttribute("data-height") + "%";
      var lanes = parseInt(block.getAttribute("data-lanes") || "1", 10);
      var lane = parseInt(block.getAttribute("data-lane") || "0", 10);
      if (lanes > 1) {
        block.style.left = "calc(" + (lane * 100 / lanes) + "% + 2px)";
        block.style.width = "calc(" + (100 / lanes) + "% - 4px)";
        block.style.right = "auto";
      }
    });
    week.classList.add("laid-out");
  }

  function pairs(day) { return Array.prototype.slice.call(day.querySelectorAll(".hours-pair")); }

  function setupHours(form) {
    form.classList.add("js-hours");
    form.querySelectorAll("[data-hours-add], [data-hours-clear], [data-hours-copy]").forEach(function (b) { b.hidden = false; });
  }

  function init(root) {
    root.querySelectorAll(".cal-week:not(.laid-out)").forEach(layoutWeek);
    root.querySelectorAll(".hours-form:not(.js-hours)").forEach(setupHours);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function () { init(document); });

  document.addEventListener("click", function (event) {
    var add = event.target.closest("[data-hours-add]");
    if (add) {
      var next = pairs(add.closest(".hours-day")).filter(function (p) { return p.classList.contains("extra"); })[0];
      if (next) {
        next.classList.remove("extra");
        next.querySelector("input").focus();
      }
      return;
    }
    var clear = event.target.closest("[data-hours-clear]");
    if (clear) {
      pairs(clear.closest(".hours-day")).forEach(function (pair, index) {
        pair.querySelectorAll("input").forEach(function (input) { input.value = ""; });
        if (index > 0) pair.classList.add("extra");
      });
      return;
    }
    var copy = event.target.closest("[data-hours-copy]");
    if (copy) {
      var form = copy.closest("form");
      var monday = pairs(form.querySelector('.hours-day[data-weekday="0"]'));
      [1, 2, 3, 4].forEach(function (weekday) {
        pairs(form.querySelector('.hours-day[data-weekday="' + weekday + '"]')).forEach(function (pair, index) {
          var source = monday[index].querySelectorAll("input");
          var target = pair.querySelectorAll("input");
          target[0].value = source[0].value;
          target[1].value = source[1].value;
          pair.classList.toggle("extra", monday[index].classList.contains("extra"));
        });
      });
    }
  });
})();
