"""HTTP API of billing: payroll runs, statement lines, invoices, payouts, ledger balances."""

import django_filters
from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings

from billing import selectors
from billing.models import Invoice, LedgerEntry, Payout, PayrollRun, StatementLine
from billing.services.payouts import payout_create
from billing.services.runs import payroll_run_start
from config.api import ApiView
from config.fields import DecimalStringField
from config.money import money_str
from config.renderers import EXPORT_RENDERERS, stream_response
from workforce.permissions import ManagerOrStaff, StaffOnly, VendorAdminOrStaff, WorkerOrStaff
from workforce.selectors import vendor_get_for_user

EXPORTING = [*api_settings.DEFAULT_RENDERER_CLASSES, *EXPORT_RENDERERS]
FORMAT_PARAMETER = OpenApiParameter("format", enum=["json", "jsonl", "csv"])


@extend_schema_field(OpenApiTypes.DECIMAL)
class AmountField(serializers.Field):
    """A decimal string at the minor unit of the `currency` beside it."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, **kwargs)

    def get_attribute(self, instance):
        return super().get_attribute(instance), instance.currency

    def to_representation(self, value):
        amount, currency = value
        return money_str(amount, currency)


@extend_schema_field(OpenApiTypes.INT)
class PayoutIdField(serializers.Field):
    """The id of the payout of a line or invoice; null while unpaid."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, source="*", allow_null=True, **kwargs)

    def to_representation(self, value):
        try:
            return value.payout.pk
        except ObjectDoesNotExist:
            return None


class LineSerializer(serializers.ModelSerializer):
    accuracy = DecimalStringField(read_only=True)
    multiplier = DecimalStringField(read_only=True)
    rate = DecimalStringField(read_only=True)
    amount = AmountField()
    payout = PayoutIdField()

    class Meta:
        model = StatementLine
        fields = [
            "id",
            "run",
            "worker",
            "project",
            "currency",
            "judgments",
            "gold_seen",
            "gold_correct",
            "accuracy",
            "multiplier",
            "rate",
            "amount",
            "payee",
            "vendor",
            "center",
            "kind",
            "corrects",
            "invoice",
            "payout",
        ]


LINE_COLUMNS = LineSerializer.Meta.fields


class LineFilter(django_filters.FilterSet):
    class Meta:
        model = StatementLine
        fields = ["run", "worker", "project", "currency", "payee", "vendor", "center", "kind"]


class LineListMixin:
    renderer_classes = EXPORTING
    queryset = StatementLine.objects.none()  # for the schema; rows come from the selectors
    filterset_class = LineFilter
    ordering_fields = ["id", "amount", "worker", "project"]

    def lines_response(self, request, lines, filename: str):
        """A page of lines, or with `?format=csv`/`jsonl` all of them, streamed."""
        lines = self.filter_queryset(lines)
        renderer = request.accepted_renderer
        if renderer.format in {"jsonl", "csv"}:
            rows = (LineSerializer(line).data for line in lines.iterator(chunk_size=2000))
            return stream_response(renderer, LINE_COLUMNS, rows, filename=filename)
        page = self.paginate_queryset(lines)
        return self.get_paginated_response(LineSerializer(page, many=True).data)


class PayrollRunSerializer(serializers.ModelSerializer):
    """A run; `totals` as the viewer may see them, from the `totals` context
    (selectors.run_totals_for_user): a manager's cover only the projects they manage."""

    class TotalSerializer(serializers.Serializer):
        currency = serializers.CharField()
        amount = serializers.CharField(help_text="decimal string at the currency's minor unit")

    totals = serializers.SerializerMethodField()

    @extend_schema_field(TotalSerializer(many=True))
    def get_totals(self, run) -> list[dict]:
        return self.context["totals"][run.pk]

    class Meta:
        model = PayrollRun
        fields = [
            "id",
            "start",
            "end",
            "status",
            "totals",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]


def run_data(user, runs: list[PayrollRun]) -> list[dict]:
    totals = selectors.run_totals_for_user(user=user, runs=runs)
    return PayrollRunSerializer(runs, many=True, context={"totals": totals}).data


class PayrollRunFilter(django_filters.FilterSet):
    class Meta:
        model = PayrollRun
        fields = ["status"]


class PayrollRunsApi(ApiView):
    """Runs (managers and staff see every run); POST `{start, end}` starts one: 202, or 200
    with the run of that exact period. An `Idempotency-Key` header may name the request."""

    permission_classes = [ManagerOrStaff]
    queryset = PayrollRun.objects.none()
    filterset_class = PayrollRunFilter
    ordering_fields = ["id", "start", "end"]

    class InputSerializer(serializers.Serializer):
        start = serializers.DateTimeField()
        end = serializers.DateTimeField()

    @extend_schema(responses=PayrollRunSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(selectors.payroll_run_list()))
        return self.get_paginated_response(run_data(request.user, page))

    @extend_schema(
        request=InputSerializer,
        responses={202: PayrollRunSerializer, 200: PayrollRunSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", location="header", required=False)],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not 0 < len(key) <= 255:
            raise serializers.ValidationError({"Idempotency-Key": ["Must be 1 to 255 characters."]})
        run, created = payroll_run_start(
            user=request.user, idempotency_key=key, **data.validated_data
        )
        run.refresh_from_db()
        return Response(
            run_data(request.user, [run])[0],
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        )


class PayrollRunDetailApi(ApiView):
    permission_classes = [ManagerOrStaff]

    @extend_schema(responses=PayrollRunSerializer)
    def get(self, request, run_id: int):
        run = selectors.payroll_run_get(run_id=run_id)
        return Response(run_data(request.user, [run])[0])


class PayrollRunLinesApi(LineListMixin, ApiView):
    """The run's statement lines (a manager: of the projects they manage)."""

    permission_classes = [ManagerOrStaff]

    @extend_schema(responses=LineSerializer(many=True), parameters=[FORMAT_PARAMETER])
    def get(self, request, run_id: int):
        run = selectors.payroll_run_get(run_id=run_id)
        lines = selectors.line_list_for_run(user=request.user, run=run)
        return self.lines_response(request, lines, filename=f"payroll-{run.pk}-lines")


class MyEarningsApi(LineListMixin, ApiView):
    """The calling worker's own statement lines, newest run first."""

    permission_classes = [WorkerOrStaff]

    @extend_schema(responses=LineSerializer(many=True), parameters=[FORMAT_PARAMETER])
    def get(self, request):
        lines = selectors.line_list_for_worker(worker_user=request.user)
        return self.lines_response(request, lines, filename="earnings")


class InvoiceSerializer(serializers.ModelSerializer):
    amount = AmountField()
    lines = LineSerializer(many=True, read_only=True)
    payout = PayoutIdField()

    class Meta:
        model = Invoice
        fields = ["id", "vendor", "run", "currency", "amount", "lines", "payout", "created_at"]


class InvoiceFilter(django_filters.FilterSet):
    class Meta:
        model = Invoice
        fields = ["run", "currency"]


class VendorInvoicesApi(ApiView):
    """A vendor's invoices, one per run and currency, itemised by center and worker;
    `?format=csv`/`jsonl` streams their lines, one row each (with `invoice`)."""

    permission_classes = [VendorAdminOrStaff]
    renderer_classes = EXPORTING
    queryset = Invoice.objects.none()
    filterset_class = InvoiceFilter
    ordering_fields = ["id", "run", "amount"]

    @extend_schema(responses=InvoiceSerializer(many=True), parameters=[FORMAT_PARAMETER])
    def get(self, request, vendor_id: int):
        vendor = vendor_get_for_user(user=request.user, vendor_id=vendor_id)
        renderer = request.accepted_renderer
        invoices = selectors.invoice_list_for_vendor(vendor=vendor)
        if renderer.format in {"jsonl", "csv"}:
            lines = selectors.invoice_lines_for_vendor(
                vendor=vendor, invoices=self.filter_queryset(invoices)
            )
            rows = (LineSerializer(line).data for line in lines.iterator(chunk_size=2000))
            return stream_response(
                renderer, LINE_COLUMNS, rows, filename=f"vendor-{vendor.pk}-invoices"
            )
        return self.list_response(invoices, InvoiceSerializer)


class PayoutSerializer(serializers.ModelSerializer):
    amount = AmountField()

    class Meta:
        model = Payout
        fields = ["id", "line", "invoice", "reference", "currency", "amount", "created_at"]


class PayoutsApi(ApiView):
    """Marks a line (a freelancer's) or an invoice (a vendor's) paid with a reference: 201,
    200 for the same target and reference again, 409 for a paid target and another reference."""

    permission_classes = [ManagerOrStaff]

    class InputSerializer(serializers.Serializer):
        line = serializers.IntegerField(required=False, min_value=1)
        invoice = serializers.IntegerField(required=False, min_value=1)
        reference = serializers.CharField(max_length=255)

        def validate(self, attrs):
            if ("line" in attrs) == ("invoice" in attrs):
                raise serializers.ValidationError(
                    {"line": ["Give exactly one of line and invoice."]}
                )
            return attrs

    @extend_schema(
        request=InputSerializer, responses={201: PayoutSerializer, 200: PayoutSerializer}
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payout, created = payout_create(
            user=request.user,
            reference=data.validated_data["reference"],
            line_id=data.validated_data.get("line"),
            invoice_id=data.validated_data.get("invoice"),
        )
        return Response(
            PayoutSerializer(payout).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class BalanceSerializer(serializers.Serializer):
    account = serializers.CharField(source="account__name")
    currency = serializers.CharField(source="account__currency")
    balance = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.DECIMAL)
    def get_balance(self, row) -> str:
        return money_str(row["balance"], row["account__currency"])


class BalanceFilter(django_filters.FilterSet):
    account = django_filters.CharFilter(field_name="account__name")
    currency = django_filters.CharFilter(field_name="account__currency")

    class Meta:
        model = LedgerEntry
        fields = []


class LedgerBalancesApi(ApiView):
    """Balance per account and currency, debits positive; they sum to 0 per currency."""

    permission_classes = [StaffOnly]
    queryset = LedgerEntry.objects.none()
    filterset_class = BalanceFilter
    ordering_fields = ["account__name", "account__currency"]

    @extend_schema(responses=BalanceSerializer(many=True))
    def get(self, request):
        return self.list_response(selectors.ledger_balances(), BalanceSerializer)
