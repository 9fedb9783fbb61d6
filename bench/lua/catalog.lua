-- wrk script for the catalog figures. Arguments after `--`:
--   mode ids_file token prefix nthreads name
-- mode: show | list | list_filtered | list_property | patch | create | delete | null
-- ids_file: one image id a line ("-" for none); each thread of `delete` takes its own slice
-- and stops itself when the slice is used up (then the rate is a lower bound: see done()).
-- done() prints one line "BENCHJSON {...}" that bench/load.py parses.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local mode, token, prefix, name
local ids = {}
local pos = 0
local counter = 0
exhausted = 0

local PATCH_CT = "application/openstack-images-v2.1-json-patch"

function init(args)
  mode = args[1] or "show"
  local ids_file = args[2] or "-"
  token = args[3] or ""
  if token == "-" then token = "" end
  prefix = args[4] or ""
  if prefix == "-" then prefix = "" end
  local nthreads = tonumber(args[5] or "1")
  name = args[6] or "wrkcreate"
  if ids_file ~= "-" then
    local i = 0
    for line in io.lines(ids_file) do
      if line ~= "" then
        if mode ~= "delete" or (i % nthreads) == tid then
          ids[#ids + 1] = line
        end
        i = i + 1
      end
    end
  end
  math.randomseed(os.time() + 7919 * tid)
  wrk.headers["Accept"] = "application/json"
  if token ~= "" then wrk.headers["X-Auth-Token"] = token end
end

function request()
  counter = counter + 1
  if mode == "show" then
    return wrk.format("GET", prefix .. "/v2/images/" .. ids[math.random(#ids)])
  elseif mode == "list" then
    return wrk.format("GET", prefix .. "/v2/images?limit=25")
  elseif mode == "list_filtered" then
    return wrk.format("GET", prefix .. "/v2/images?limit=25&status=queued&disk_format=qcow2&container_format=bare&sort_key=name&sort_dir=asc")
  elseif mode == "list_property" then
    return wrk.format("GET", prefix .. "/v2/images?limit=25&bench_group=g3")
  elseif mode == "patch" then
    local body = '[{"op": "replace", "path": "/name", "value": "patched-' .. tid .. '-' .. counter .. '"}]'
    return wrk.format("PATCH", prefix .. "/v2/images/" .. ids[math.random(#ids)],
      {["Content-Type"] = PATCH_CT}, body)
  elseif mode == "create" then
    local body = '{"name": "' .. name .. '", "disk_format": "raw", "container_format": "bare", "bench_group": "created"}'
    return wrk.format("POST", prefix .. "/v2/images", {["Content-Type"] = "application/json"}, body)
  elseif mode == "delete" then
    pos = pos + 1
    if pos > #ids then
      exhausted = 1
      wrk.thread:stop()
      return wrk.format("GET", prefix .. "/v2/images?limit=1")
    end
    return wrk.format("DELETE", prefix .. "/v2/images/" .. ids[pos])
  else
    return wrk.format("GET", prefix .. "/")
  end
end

function done(summary, latency, requests)
  local ex = 0
  for _, t in ipairs(threads) do
    if tonumber(t:get("exhausted") or 0) == 1 then ex = ex + 1 end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"min": %d, "p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d, "mean": %.1f}, ' ..
    '"exhausted_threads": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean, ex))
end
