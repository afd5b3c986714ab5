-- POST a new product to POST_PATH with the bearer token from TOKEN on every request.
math.randomseed(os.time())
local token = os.getenv("TOKEN")
local path = os.getenv("POST_PATH") or "/api/products"
local platforms = {"SNES", "N64", "PS5", "Switch", "Game Boy"}

request = function()
  local body = string.format(
    '{"category":"games","name":"bench %d","price":%d.99,"attributes":{"platform":"%s"}}',
    math.random(1, 1000000), math.random(1, 500), platforms[math.random(#platforms)])
  return wrk.format("POST", path,
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
