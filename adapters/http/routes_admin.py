"""Write-side and utility endpoints: pricing overrides, alert rules, Start Fresh, stats card."""

from __future__ import annotations

from typing import Any

from anyio.to_thread import run_sync
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from costhq.adapters.http.converter import AlertBody, PriceBody, ResetBody
from costhq.adapters.http.json_views import rule_json
from costhq.adapters.http.routes_data import deps, tz_of
from costhq.domain.budgets import BudgetAction, BudgetScope, NewBudgetRule
from costhq.domain.errors import InvalidArgument, NotFound
from costhq.domain.money import as_json_number as money
from costhq.domain.pricing import CustomPrice, PriceQuote


def custom_json(p: CustomPrice) -> dict[str, Any]:
    return {
        "model": p.key,
        "source": "custom",
        "inputPer1M": money(p.input),
        "outputPer1M": money(p.output),
        "cacheReadPer1M": None if p.cache_read is None else money(p.cache_read),
        "cacheWritePer1M": None if p.cache_write is None else money(p.cache_write),
    }


def builtin_json(q: PriceQuote) -> dict[str, Any]:
    return {
        "model": q.key,
        "provider": q.provider,
        "source": "built-in",
        **{k: money(v) for k, v in q.price.rates_at(0).items()},
    }


async def body(request: Request, cls: type) -> Any:
    try:
        raw = await request.json()
    except ValueError as exc:
        raise InvalidArgument("the request body must be JSON") from exc
    return request.app.state.conv.structure(raw, cls)


def pricing(request: Request) -> JSONResponse:
    q = request.query_params
    listing = deps(request).list_prices(provider=q.get("provider") or None, search=q.get("search") or None)
    return JSONResponse(
        {"custom": [custom_json(p) for p in listing.custom], "builtIn": [builtin_json(b) for b in listing.builtin]}
    )


async def put_pricing(request: Request) -> JSONResponse:
    b: PriceBody = await body(request, PriceBody)
    price = await run_sync(
        lambda: deps(request).set_price(
            model=b.model,
            provider=b.provider,
            input_per_1m=b.inputPer1M,
            output_per_1m=b.outputPer1M,
            cache_read_per_1m=b.cacheReadPer1M,
            cache_write_per_1m=b.cacheWritePer1M,
        )
    )
    return JSONResponse({"pricing": custom_json(price)})


def delete_pricing(request: Request) -> JSONResponse:
    q = request.query_params
    removed = deps(request).reset_pricing(model=q.get("model") or None, provider=q.get("provider") or None)
    return JSONResponse({"removed": removed})


def alerts(request: Request) -> JSONResponse:
    rules = [rule_json(s) for s in deps(request).alerts.statuses()]
    return JSONResponse(
        {
            "rules": rules,
            "activeRules": len(rules),
            "alarms": sum(r["action"] == "block" for r in rules),
            "triggered": sum(r["exceeded"] for r in rules),
        }
    )


async def add_alert(request: Request) -> JSONResponse:
    b: AlertBody = await body(request, AlertBody)
    try:
        rule = NewBudgetRule(
            scope=BudgetScope(b.scope),
            limit=b.limit,
            action=BudgetAction(b.action),
            model=b.model or None,
            session_id=b.sessionId,
            project=b.project or None,
        )
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from exc
    saved = await run_sync(deps(request).alerts.add, rule)
    return JSONResponse({"id": saved.id, "scope": saved.scope.value}, status_code=201)


def delete_alert(request: Request) -> JSONResponse:
    rule_id = request.app.state.conv.structure(request.path_params["id"], int)
    if not deps(request).alerts.remove(rule_id):
        raise NotFound(f"No alert rule {rule_id}")
    return JSONResponse({"removed": 1})


async def reset(request: Request) -> JSONResponse:
    b: ResetBody = await body(request, ResetBody)
    c = await run_sync(lambda: deps(request).start_fresh(confirm=b.confirm))
    return JSONResponse(
        {
            "deleted": {
                "sessions": c.sessions,
                "aiUsage": c.ai_usage,
                "fileChanges": c.file_changes,
                "commits": c.commits,
                "annotations": c.annotations,
                "alertThresholds": c.alert_thresholds,
            }
        }
    )


def card(request: Request) -> Response:
    d, period = deps(request), request.query_params.get("period", "month")
    png = d.render_card(d.card_stats(period=period, tz=tz_of(request)))
    return Response(
        png, media_type="image/png", headers={"Content-Disposition": f'inline; filename="costhq-{period}.png"'}
    )


def csrf(request: Request) -> JSONResponse:
    """The CSRF token for scripts on loopback (cross-origin pages cannot read this response)."""
    sec = deps(request).security
    return JSONResponse({"csrfToken": sec.csrf_token if sec.loopback else None})


ROUTES = [
    Route("/pricing", pricing, methods=["GET"], name="pricing"),
    Route("/pricing", put_pricing, methods=["PUT"], name="pricing_put"),
    Route("/pricing", delete_pricing, methods=["DELETE"], name="pricing_delete"),
    Route("/alerts", alerts, methods=["GET"], name="alerts"),
    Route("/alerts", add_alert, methods=["POST"], name="alerts_post"),
    Route("/alerts/{id}", delete_alert, methods=["DELETE"], name="alert_delete"),
    Route("/reset", reset, methods=["POST"], name="reset"),
    Route("/card.png", card, methods=["GET"], name="card"),
    Route("/csrf", csrf, methods=["GET"], name="csrf"),
]
