// ttvd's web page: a client of the public HTTP API (/api/v1), nothing more.
"use strict";

const API = "/api/v1";
const PAGE_SIZE = 10;
const POLL_MS = 1500;
const WORDS_PER_MINUTE = 165; // the offline voice's default rate (TTVD_SPEECH_RATE)
const choices = JSON.parse(document.getElementById("choices").textContent);
const cards = new Map(); // job id -> {node, state}
let nextCursor = null;
let pendingToken = null;

// -- talking to the API ----------------------------------------------------------------------------

function token() { return sessionStorage.getItem("ttvd-token"); }

async function call(method, path, body) {
  const headers = {};
  if (token()) headers["Authorization"] = `Bearer ${token()}`;
  if (method !== "GET" && method !== "DELETE") headers["Content-Type"] = "application/json";
  const response = await fetch(API + path, {
    method, headers, body: body === undefined ? (method === "POST" ? "{}" : undefined) : JSON.stringify(body),
  });
  if (response.status === 401) {
    await askForToken(token() ? "That token was refused; try another." : "");
    return call(method, path, body);
  }
  let data = {};
  try { data = await response.json(); } catch (e) { data = {error: `HTTP ${response.status}`}; }
  if (!response.ok) {
    const error = new Error(data.error || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

function askForToken(message) {
  const dialog = document.getElementById("token-dialog");
  document.getElementById("token-error").textContent = message;
  if (!pendingToken) {
    pendingToken = new Promise((resolve) => {
      dialog.addEventListener("close", () => {
        sessionStorage.setItem("ttvd-token", document.getElementById("token").value.trim());
        pendingToken = null;
        resolve();
      }, {once: true});
    });
    dialog.showModal();
    document.getElementById("token").focus();
  }
  return pendingToken;
}

// -- the form --------------------------------------------------------------------------------------

function fillSelect(id, values, labels) {
  const select = document.getElementById(id);
  for (const value of values) {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = labels && labels[value] ? labels[value] : value;
    select.append(option);
  }
}

function countWords() {
  const words = document.getElementById("text").value.split(/\s+/).filter(Boolean).length;
  const seconds = Math.round((words / WORDS_PER_MINUTE) * 60);
  const time = seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  document.getElementById("count").textContent =
    `${words} word${words === 1 ? "" : "s"}` + (words ? `, about ${time} of narration` : "");
}

async function loadVoices() {
  try {
    const data = await call("GET", "/voices");
    const select = document.getElementById("voice");
    for (const voice of data.voices || []) {
      const option = document.createElement("option");
      option.value = voice.id;
      option.textContent = `${voice.name || voice.id} (${voice.language}, ${voice.backend}${voice.offline ? "" : ", online"})`;
      select.append(option);
    }
  } catch (error) {
    // 503 until a daemon has published its voices: "auto" still works
  }
}

async function submitJob(event) {
  event.preventDefault();
  const button = document.getElementById("submit");
  const errorLine = document.getElementById("form-error");
  errorLine.textContent = "";
  const options = {};
  for (const name of ["voice", "captions", "caption_position", "music", "transition", "aspect"]) {
    options[name] = document.getElementById(name).value;
  }
  const title = document.getElementById("title").value.trim();
  if (title) options.title = title;
  button.disabled = true;
  try {
    const accepted = await call("POST", "/generate", {text: document.getElementById("text").value, options});
    document.getElementById("empty").hidden = true;
    const state = await call("GET", `/status/${accepted.job_id}`);
    showJob(accepted.job_id, state, true);
  } catch (error) {
    errorLine.textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

// -- the list --------------------------------------------------------------------------------------

function describe(state) {
  const created = new Date(state.created_at * 1000).toLocaleString();
  return `${created}` + (state.stage && state.status === "processing" ? ` · stage: ${state.stage}` : "");
}

function showJob(id, state, atTop) {
  let card = cards.get(id);
  if (!card) {
    const node = document.getElementById("job-template").content.firstElementChild.cloneNode(true);
    node.dataset.jobId = id;
    node.querySelector(".job-title").textContent = `Job ${id.slice(0, 8)}`;
    node.querySelector(".cancel").addEventListener("click", () => act(id, "POST", `/jobs/${id}/cancel`));
    node.querySelector(".retry").addEventListener("click", () => act(id, "POST", `/jobs/${id}/retry`));
    node.querySelector(".delete").addEventListener("click", () => removeJob(id));
    const list = document.getElementById("jobs");
    if (atTop) list.prepend(node); else list.append(node);
    card = {node, state: null};
    cards.set(id, card);
  }
  const previous = card.state;
  card.state = state;
  const node = card.node;
  node.className = `job ${state.status}`;
  const badge = node.querySelector(".badge");
  badge.textContent = state.status;
  badge.className = `badge ${state.status}`;
  node.querySelector(".meta").textContent = describe(state);
  const bar = node.querySelector(".progress");
  bar.setAttribute("aria-valuenow", state.progress);
  bar.setAttribute("aria-label", `Job ${id.slice(0, 8)} progress`);
  node.querySelector(".bar").style.width = `${state.progress}%`;
  node.querySelector(".message").textContent =
    state.status === "failed" && state.error ? `Failed: ${state.error}` : state.message;
  node.querySelector(".cancel").hidden = !["queued", "processing"].includes(state.status);
  node.querySelector(".retry").hidden = !["failed", "cancelled"].includes(state.status);
  const result = node.querySelector(".result");
  result.hidden = state.status !== "completed";
  if (state.status === "completed" && (!previous || previous.status !== "completed")) showResult(id, state, node);
}

async function showResult(id, state, node) {
  const video = node.querySelector("video");
  video.setAttribute("aria-label", `Video of job ${id.slice(0, 8)}`);
  if (token()) { // a <video> cannot send the token: fetch it once, then play from memory (seeking works)
    const response = await fetch(`${API}/download/${id}`, {headers: {Authorization: `Bearer ${token()}`}});
    if (response.ok) video.src = URL.createObjectURL(await response.blob());
  } else {
    video.src = `${API}/download/${id}`; // the browser seeks with Range requests
  }
  const downloads = node.querySelector(".downloads");
  downloads.textContent = "";
  for (const [format, label] of [["mp4", "Download MP4"], ["srt", "Captions (SRT)"], ["vtt", "Captions (WebVTT)"]]) {
    const link = document.createElement("a");
    link.href = `${API}/download/${id}?format=${format}`;
    link.textContent = label;
    link.download = `generated_video_${id}.${format}`;
    if (token()) link.addEventListener("click", (event) => { event.preventDefault(); saveWithToken(link); });
    downloads.append(link);
  }
  const credits = state.credits || [];
  const details = node.querySelector(".credits");
  details.hidden = credits.length === 0;
  const list = details.querySelector("ul");
  list.textContent = "";
  for (const credit of credits) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = credit.page || "#";
    link.textContent = `${credit.source} video ${credit.id}` + (credit.author ? ` by ${credit.author}` : "");
    link.rel = "noopener noreferrer";
    item.append(link);
    list.append(item);
  }
}

async function saveWithToken(link) {
  const response = await fetch(link.href, {headers: {Authorization: `Bearer ${token()}`}});
  if (!response.ok) return;
  const url = URL.createObjectURL(await response.blob());
  const save = document.createElement("a");
  save.href = url;
  save.download = link.download;
  save.click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function act(id, method, path) {
  const card = cards.get(id);
  try {
    await call(method, path);
    showJob(id, await call("GET", `/status/${id}`));
  } catch (error) {
    card.node.querySelector(".message").textContent = error.message;
  }
}

async function removeJob(id) {
  const card = cards.get(id);
  try {
    await call("DELETE", `/jobs/${id}`);
  } catch (error) {
    if (error.status !== 404) { card.node.querySelector(".message").textContent = error.message; return; }
  }
  card.node.remove();
  cards.delete(id);
  document.getElementById("empty").hidden = cards.size > 0;
}

async function loadJobs(reset) {
  const status = document.getElementById("filter").value;
  if (reset) {
    document.getElementById("jobs").textContent = "";
    cards.clear();
    nextCursor = null;
  }
  let query = `?order=newest&limit=${PAGE_SIZE}`;
  if (status) query += `&status=${encodeURIComponent(status)}`;
  if (nextCursor) query += `&cursor=${encodeURIComponent(nextCursor)}`;
  const data = await call("GET", `/jobs${query}`);
  for (const [id, state] of Object.entries(data.jobs)) showJob(id, state, false);
  nextCursor = data.next || null;
  document.getElementById("more").hidden = !nextCursor;
  document.getElementById("empty").hidden = cards.size > 0;
}

async function poll() {
  for (const [id, card] of cards) {
    if (["completed", "failed", "cancelled"].includes(card.state.status)) continue;
    try {
      showJob(id, await call("GET", `/status/${id}`));
    } catch (error) {
      if (error.status === 404) { card.node.remove(); cards.delete(id); }
    }
  }
  setTimeout(poll, POLL_MS);
}

async function checkHealth() {
  try {
    const response = await fetch(`${API}/health`);
    const data = await response.json();
    document.getElementById("server-note").textContent =
      response.ok ? "" : `Jobs will wait: ${data.error || "the server is not ready"}.`;
  } catch (error) {
    document.getElementById("server-note").textContent = "The server cannot be reached.";
  }
}

// -- start -----------------------------------------------------------------------------------------

fillSelect("captions", choices.captions);
fillSelect("caption_position", choices.caption_position);
fillSelect("music", choices.music);
fillSelect("transition", choices.transition);
fillSelect("aspect", choices.aspect);
fillSelect("filter", choices.status);
for (const [id, value] of Object.entries(choices.defaults)) {
  const select = document.getElementById(id);
  if (select) select.value = value;
}
document.getElementById("text").addEventListener("input", countWords);
document.getElementById("make").addEventListener("submit", submitJob);
document.getElementById("filter").addEventListener("change", () => loadJobs(true));
document.getElementById("more").addEventListener("click", () => loadJobs(false));
document.getElementById("token-form").addEventListener("submit", () => {});
checkHealth();
loadJobs(true).then(() => { loadVoices(); poll(); }).catch((error) => {
  document.getElementById("server-note").textContent = error.message;
  poll();
});
