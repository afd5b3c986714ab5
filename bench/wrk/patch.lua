-- PATCH a random existing product's price (ids 1..MAX_ID) under PATCH_PREFIX, with the bearer
-- token from TOKEN: a price change, so every request also records a price-history point.
math.randomseed(os.time())
local token = os.getenv("TOKEN")
local prefix = os.getenv("PATCH_PREFIX") or "/api/products/"
local max_id = tonumber(os.getenv("MAX_ID") or "1000")

request = function()
  local body = string.format('{"price":%d.%02d}', math.random(1, 5000), math.random(0, 99))
  return wrk.format("PATCH", prefix .. math.random(1, max_id),
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
