-- wrk script: POST one JSON body (read from the file given after `--`) and print a JSON summary.
--
--   wrk -t1 -c8 -d10s -s post.lua http://127.0.0.1:8000/v1/predict -- body.json
--
-- The last line of wrk's output is `WRK_JSON {...}`: requests, duration (µs), latency
-- percentiles (µs) and the error counts (status = responses with a status > 399).

function init(args)
   local path = args[1]
   if path == nil then
      error("post.lua: pass the body file after --, e.g. wrk ... -- body.json")
   end
   local file = assert(io.open(path, "rb"))
   wrk.body = file:read("*a")
   file:close()
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
         .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, '
         .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean,
      e.connect, e.read, e.write, e.status, e.timeout))
end
