-- wrk script for scripts/bench-rest.sh: one scenario per run, chosen by BENCH_SCENARIO.
--   get     GET one source
--   list    GET the sources of a production of 50
--   create  POST a source (durable: acknowledged after fsync)
--   update  PUT a source with its version (optimistic concurrency, as the crew app does)
-- Rows come from BENCH_ROWS (a file of uuids, one per line). Prints one JSON line at the end.
local scenario = os.getenv("BENCH_SCENARIO")
local production = os.getenv("BENCH_PRODUCTION")
local rows_file = os.getenv("BENCH_ROWS")
local json_headers = { ["Content-Type"] = "application/json" }

local all_rows = {}
for line in io.lines(rows_file) do all_rows[#all_rows + 1] = line end

local threads = {}
local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_index", thread_count)
  threads[#threads + 1] = thread
end

-- Per thread: the rows it updates (disjoint from other threads), free ones with their version.
local free = {}
local counter = 0
local conflicts = 0
function init(args)
  local per_thread = math.floor(#all_rows / tonumber(os.getenv("BENCH_THREADS")))
  local first = (thread_index - 1) * per_thread
  for i = first + 1, first + per_thread do
    free[#free + 1] = { uuid = all_rows[i], version = 1 }
  end
end

function request()
  counter = counter + 1
  if scenario == "get" then
    return wrk.format("GET", "/api/sources/" .. all_rows[(counter % #all_rows) + 1])
  elseif scenario == "list" then
    return wrk.format("GET", "/api/sources/production/" .. production)
  elseif scenario == "create" then
    local body = string.format('{"productionId":"%s","name":"BENCH %d-%d","type":"CAMERA"}',
      production, thread_index, counter)
    return wrk.format("POST", "/api/sources", json_headers, body)
  else
    -- A row no request of this thread has in flight; its response hands it back.
    local row = table.remove(free, 1)
    local body = string.format('{"name":"UPDATED %d","version":%d}', counter, row.version)
    return wrk.format("PUT", "/api/sources/" .. row.uuid, json_headers, body)
  end
end

function response(status, headers, body)
  if scenario ~= "update" then return end
  local uuid = body:match('"uuid":"([^"]+)"')
  local version
  if status == 409 then
    conflicts = conflicts + 1
    version = body:match('"currentVersion":(%d+)')
  else
    version = body:match('"version":(%d+)')
  end
  free[#free + 1] = { uuid = uuid, version = tonumber(version) }
end

function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format(
    '{"scenario":"%s","requests":%d,"durationSeconds":%.3f,"requestsPerSecond":%.1f,' ..
    '"p50Ms":%.3f,"p99Ms":%.3f,"maxMs":%.3f,"non2xx":%d,"socketErrors":%d}\n',
    scenario, summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    non2xx, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
