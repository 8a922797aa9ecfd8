// duet ui: the little script the pages need. No framework, no build
// step, nothing from the internet: the Content-Security-Policy allows
// only this file.
"use strict";

(function () {
  const csrfMeta = document.querySelector('meta[name="csrf"]');
  const csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  const $ = (sel) => document.querySelector(sel);

  // --- Timeline: today's prompt, live updates, notifications ---------
  function setupPrompt() {
    const button = $("#use-prompt");
    const form = $("#write");
    if (!button || !form) return;
    button.addEventListener("click", () => {
      form.querySelector('input[name="prompt"]').value = button.dataset.prompt;
      const kind = form.querySelector('select[name="kind"]');
      if (kind) kind.value = button.dataset.kind;
      const answering = form.querySelector(".answering");
      answering.textContent = "Answering: " + button.dataset.prompt;
      answering.hidden = false;
      form.querySelector('textarea[name="text"]').focus();
    });
  }

  function setupLive() {
    const timeline = $("#timeline");
    if (!timeline || !window.EventSource) return;
    let busy = false;
    let again = false;
    async function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      try {
        const params = new URLSearchParams(window.location.search);
        params.delete("before");
        params.set("fragment", "1");
        const response = await fetch("/timeline?" + params.toString(), { credentials: "same-origin" });
        if (response.ok) {
          // Keep what the person is typing in a reply box, and where.
          const drafts = {};
          let focused = null;
          timeline.querySelectorAll("article.entry").forEach((a) => {
            const box = a.querySelector('form.reply textarea[name="text"]');
            if (box && box.value) drafts[a.dataset.id] = box.value;
            if (box && document.activeElement === box) focused = a.dataset.id;
          });
          timeline.innerHTML = await response.text();
          timeline.querySelectorAll("article.entry").forEach((a) => {
            const box = a.querySelector('form.reply textarea[name="text"]');
            if (!box) return;
            if (drafts[a.dataset.id]) box.value = drafts[a.dataset.id];
            if (focused === a.dataset.id) box.focus();
          });
        }
      } finally {
        busy = false;
        if (again) { again = false; refresh(); }
      }
    }
    const events = new EventSource("/events");
    events.addEventListener("journal", () => {
      refresh();
      notify();
    });
  }

  function notify() {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    if (!document.hidden) return;
    // Never the entry's words: a notification may show on a locked screen.
    new Notification("duet", { body: "Something new in your journal." });
  }

  function setupNotifyButton() {
    const prompt = $("#prompt");
    if (!prompt || !("Notification" in window) || Notification.permission !== "default") return;
    const button = document.createElement("button");
    button.type = "button";
    button.id = "notify";
    button.textContent = "Tell me when my partner writes";
    button.addEventListener("click", () => {
      Notification.requestPermission().then(() => button.remove());
    });
    prompt.appendChild(button);
  }

  // --- Invite: poll the invitation's state --------------------------
  function setupInvite() {
    if (!$("#invitation")) return;
    const box = $("#confirm-box");
    async function poll() {
      let state;
      try {
        const response = await fetch("/invite/state", { credentials: "same-origin" });
        state = await response.json();
      } catch (e) {
        setTimeout(poll, 2000);
        return;
      }
      if (state.state === "confirm") {
        $("#words").textContent = state.words || "";
        $("#joining").textContent = state.device || "A device";
        box.hidden = false;
      } else {
        box.hidden = true;
      }
      if (state.outcome) $("#outcome").textContent = state.outcome;
      if (state.state === "waiting" || state.state === "confirm") setTimeout(poll, 1000);
    }
    poll();
  }

  // --- Join: the camera, the scan, and the join's progress ----------
  function setupJoin() {
    const form = $("#join-form");
    if (!form) return;
    const scanButton = $("#scan");
    const video = $("#camera");
    const canvas = $("#frame");
    let stream = null;
    let timer = null;

    function stopCamera() {
      if (timer) clearInterval(timer);
      timer = null;
      if (stream) stream.getTracks().forEach((t) => t.stop());
      stream = null;
      video.hidden = true;
    }

    async function sendFrame() {
      if (!video.videoWidth) return;
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
      if (!blob || !stream) return;
      const response = await fetch("/join/scan", {
        method: "POST",
        credentials: "same-origin",
        headers: { "x-duet-csrf": csrf, "content-type": "image/png" },
        body: blob,
      });
      if (!response.ok) return;
      const result = await response.json();
      if (result.found && stream) {
        stopCamera();
        form.querySelector('input[name="uri"]').value = result.uri;
        $("#scanned").hidden = false;
      }
    }

    scanButton.addEventListener("click", async () => {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
      } catch (e) {
        $("#outcome").textContent = "The camera could not be opened; type the code phrase instead.";
        return;
      }
      video.srcObject = stream;
      video.hidden = false;
      timer = setInterval(() => { sendFrame().catch(() => {}); }, 300);
    });

    async function poll() {
      let state;
      try {
        const response = await fetch("/join/state", { credentials: "same-origin" });
        state = await response.json();
      } catch (e) {
        setTimeout(poll, 2000);
        return;
      }
      if (state.words) $("#words").textContent = state.words;
      if (state.outcome) $("#outcome").textContent = state.outcome;
      if (state.state === "waiting") $("#join-status").textContent = "Looking for your partner's device…";
      if (state.state === "waiting" || state.state === "confirm") {
        setTimeout(poll, 1000);
      } else if (state.state === "done") {
        $("#join-status").innerHTML = "";
        const link = document.createElement("a");
        link.id = "go-timeline";
        link.href = "/timeline";
        link.textContent = "Open the journal";
        $("#join-status").appendChild(link);
        setTimeout(() => { window.location.href = "/timeline"; }, 1500);
      }
    }
    poll();
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupPrompt();
    setupNotifyButton();
    setupLive();
    setupInvite();
    setupJoin();
  });
})();
