from fastapi.testclient import TestClient


def test_health(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200, r.text
    assert r.json()["database"]["replicas"][0]["in_rotation"]
