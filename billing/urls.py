from django.urls import path

from billing import apis

urlpatterns = [
    path("payroll/runs/", apis.PayrollRunsApi.as_view(), name="payroll-runs"),
    path("payroll/runs/<int:run_id>/", apis.PayrollRunDetailApi.as_view(), name="payroll-run"),
    path(
        "payroll/runs/<int:run_id>/lines/",
        apis.PayrollRunLinesApi.as_view(),
        name="payroll-run-lines",
    ),
    path("me/earnings/", apis.MyEarningsApi.as_view(), name="my-earnings"),
    path(
        "vendors/<int:vendor_id>/invoices/",
        apis.VendorInvoicesApi.as_view(),
        name="vendor-invoices",
    ),
    path("payouts/", apis.PayoutsApi.as_view(), name="payouts"),
    path("ledger/balances/", apis.LedgerBalancesApi.as_view(), name="ledger-balances"),
]
