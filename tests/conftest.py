import pytest
from rest_framework.test import APIClient

from tests import factories


@pytest.fixture
def anonymous():
    return APIClient()


@pytest.fixture
def staff_sam(db):
    return factories.StaffFactory(username="staff_sam")


@pytest.fixture
def manager_pat(db):
    return factories.ManagerFactory(username="manager_pat")


@pytest.fixture
def vendor_acme(db):
    return factories.VendorFactory(name="Acme BPO")


@pytest.fixture
def vendor_globex(db):
    return factories.VendorFactory(name="Globex Staffing", country="IN")


@pytest.fixture
def vendor_admin_acme(vendor_acme):
    return factories.VendorAdminFactory(username="vendor_admin_acme", vendor=vendor_acme)


@pytest.fixture
def vendor_admin_globex(vendor_globex):
    return factories.VendorAdminFactory(username="vendor_admin_globex", vendor=vendor_globex)


@pytest.fixture
def center_manila(vendor_acme):
    return factories.CenterFactory(vendor=vendor_acme, name="Manila 1")


@pytest.fixture
def center_pune(vendor_globex):
    return factories.CenterFactory(
        vendor=vendor_globex, name="Pune", country="IN", city="Pune", timezone="Asia/Kolkata"
    )


@pytest.fixture
def worker_alice(center_manila):
    return factories.WorkerFactory(
        user=factories.UserFactory(username="worker_alice"), center=center_manila
    )


@pytest.fixture
def worker_bob(center_pune):
    return factories.WorkerFactory(
        user=factories.UserFactory(username="worker_bob"), center=center_pune
    )


@pytest.fixture
def freelancer_fay(db):
    return factories.WorkerFactory(
        user=factories.UserFactory(username="freelancer_fay"), freelancer=True
    )
