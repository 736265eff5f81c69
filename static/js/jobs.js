/* Progress of background jobs (previews, rescoring, imports), wired through data- attributes.
 *
 *   <section id="..." data-job-url="/jobs/7/" data-job-finished="false">
 *     ... templates/leads/scoring/job_progress.html (data-job-status, data-job-count, data-job-bar,
 *     .progress-bar[data-percent]) ...
 *   </section>
 *
 * While the job runs, the element polls its URL (JSON: status, done, total, percent, finished,
 * error) and moves the bar. When the job ends it fetches this page again and swaps in the
 * server-drawn version of the element, which shows the result; a job that had already ended
 * when the page was drawn (tasks run eagerly, or a fast worker) is not polled at all.
 */
(function () {
  "use strict";

  const FIRST_POLL_MS = 700;
  const MAX_POLL_MS = 5000;

  function clampPercent(value) {
    const number = Number(value);
    if (!Number.isFinite(number)) return 0;
    return Math.max(0, Math.min(100, Math.round(number)));
  }

  // Bar widths are set here rather than in style="" attributes, which a strict CSP forbids.
  function paintBars(root) {
    root.querySelectorAll(".progress-bar[data-percent]").forEach(function (bar) {
      bar.style.width = clampPercent(bar.dataset.percent) + "%";
    });
  }

  // What job.total counts, from data-job-unit ("rows"; batches by default).
  function unitName(region, total) {
    const rows = region.dataset.jobUnit === "rows";
    if (total === 1) return rows ? "row" : "batch";
    return rows ? "rows" : "batches";
  }

  function update(region, job) {
    const percent = clampPercent(job.percent);
    const bar = region.querySelector(".progress-bar");
    const track = region.querySelector("[data-job-bar]");
    if (bar) {
      bar.dataset.percent = String(percent);
      bar.style.width = percent + "%";
      bar.textContent = percent + "%";
    }
    if (track) track.setAttribute("aria-valuenow", String(percent));
    const status = region.querySelector("[data-job-status]");
    if (status && job.status === "running") status.textContent = "Working…";
    const count = region.querySelector("[data-job-count]");
    if (count && job.total) count.textContent = job.done + " of " + job.total + " " + unitName(region, job.total);
  }

  function showProblem(region, message) {
    let note = region.querySelector("[data-job-problem]");
    if (!note) {
      note = document.createElement("div");
      note.className = "alert alert-warning small mt-3 mb-0";
      note.setAttribute("role", "alert");
      note.dataset.jobProblem = "";
      (region.querySelector("[data-job-progress]") || region).appendChild(note);
    }
    note.textContent = message;
  }

  // Swap in the server-drawn element (the finished state, with the result).
  function redraw(region) {
    return fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        const fresh = new DOMParser().parseFromString(html, "text/html").getElementById(region.id);
        if (!fresh) {
          window.location.reload();
          return;
        }
        const adopted = document.importNode(fresh, true);
        region.replaceWith(adopted);
        paintBars(adopted);
        watch(adopted);
        adopted.dispatchEvent(new CustomEvent("baton:job-finished", { bubbles: true }));
      })
      .catch(function () {
        window.location.reload();
      });
  }

  function watch(region) {
    if (!region.id || !region.dataset.jobUrl || region.dataset.jobFinished === "true") return;
    let delay = FIRST_POLL_MS;

    function poll() {
      fetch(region.dataset.jobUrl, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          if (response.status === 401) throw new Error("Your session has ended: sign in again to follow the progress.");
          if (!response.ok) throw new Error("The progress of this job is not available (" + response.status + ").");
          return response.json();
        })
        .then(function (job) {
          update(region, job);
          if (job.finished) {
            region.dataset.jobFinished = "true";
            redraw(region);
            return;
          }
          delay = Math.min(Math.round(delay * 1.3), MAX_POLL_MS);
          window.setTimeout(poll, delay);
        })
        .catch(function (error) {
          if (error instanceof TypeError) {
            // The network hiccuped: keep trying, more slowly.
            delay = MAX_POLL_MS;
            window.setTimeout(poll, delay);
            return;
          }
          showProblem(region, error.message);
        });
    }

    window.setTimeout(poll, delay);
  }

  paintBars(document);
  document.querySelectorAll("[data-job-url]").forEach(watch);
})();
