from ebr.bootstrap import Services
from ebr.ops.records import reconcile
from tests.integration.records.shop import make_shop

def test_smoke(services: Services) -> None:
    make_shop(services)
    with services.session_factory() as session:
        report = reconcile(session)
    for f in report.findings[:40]:
        print(f.describe())
    print(report.tables, report.rows, report.images, len(report.findings))
    assert report.ok
