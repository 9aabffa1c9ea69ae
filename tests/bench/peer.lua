-- wrk script for tests/bench/peer.py: the same request shape against either server.
--   BENCH_METHOD  GET or POST
--   BENCH_PATHS   a file of request paths, used round-robin
--   BENCH_BODY    for POST: a JSON body whose "%d" becomes a per-request counter
local method = os.getenv("BENCH_METHOD")
local body_template = os.getenv("BENCH_BODY")
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local headers = { ["Content-Type"] = "application/json" }
local counter = 0
local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_index", thread_count)
end
function request()
  counter = counter + 1
  local path = paths[(counter % #paths) + 1]
  if method == "POST" then
    local body = string.gsub(body_template, "%%d", thread_index .. "-" .. counter)
    return wrk.format("POST", path, headers, body)
  end
  return wrk.format("GET", path)
end
function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format('{"requests":%d,"non2xx":%d,"p50Ms":%.3f,"p99Ms":%.3f,"requestsPerSecond":%.1f}\n',
    summary.requests, non2xx, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6)))
end
