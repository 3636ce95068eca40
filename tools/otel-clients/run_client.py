#!/usr/bin/env python3
"""Runs one scenario with the official `openai` client under a real GenAI instrumentation
library, exporting OTLP to an endpoint (a capture server or `tracelake serve`).

    run_client.py --lib LIB --openai-base URL --otlp-endpoint URL [--protocol http/protobuf|grpc]
                  [--model gpt-4o-mini] [--session-id ID] [--bare]

LIB is one of:
  openai-v2         opentelemetry-instrumentation-openai-v2, default (v1.30) conventions; content
                    capture on (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true), which
                    puts the messages in log events, not on the span.
  openai-v2-latest  the same package with OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental
                    and capture mode span_and_event (+ OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT=true):
                    JSON messages in gen_ai.input.messages / gen_ai.output.messages and
                    gen_ai.client.inference.operation.details events.
  openinference     openinference-instrumentation-openai (Arize/Phoenix conventions).
  traceloop         traceloop-sdk (OpenLLMetry), its bundled opentelemetry-instrumentation-openai
                    (0.62: JSON gen_ai.input.messages / gen_ai.output.messages on the span).
  traceloop-legacy  the same code against traceloop-sdk 0.54 (its own venv, see setup.sh): the
                    older indexed gen_ai.prompt.N.* / gen_ai.completion.N.* attributes.

The scenario: (a) a plain chat completion (system + user message), a root span of its own;
(b) a tool-calling round trip (tool get_weather(city): call, tool result, final answer). Unless
--bare, (b) runs inside the library's own idea of an agent with a session/conversation id and a
tool-execution span:
  openai-v2-latest  util-genai TelemetryHandler.invoke_local_agent() (conversation_id set) and .tool()
  openinference     an AGENT span from OITracer inside using_session()/using_user(), a TOOL span
  traceloop(-legacy) @conversation + @agent(name="weather_agent") + @tool(name="get_weather"),
                    association properties session_id / user_id
  openai-v2         (legacy conventions have no agent API: no wrapper, only the chat spans)

service.name is `otel-client-<lib>`. Spans, logs and metrics go to <endpoint>/v1/{traces,logs,
metrics} (HTTP protobuf) or to the endpoint itself (gRPC). Providers are force-flushed and shut
down before exit; any failed request, any failed export, or no span exported gives exit 1.
stdout carries only the JSON summary (the libraries' own prints go to stderr).
"""
import argparse
import json
import os
import sys

LIBS = ("openai-v2", "openai-v2-latest", "openinference", "traceloop", "traceloop-legacy")
REAL_STDOUT = sys.stdout
sys.stdout = sys.stderr  # traceloop prints banners with print(); keep stdout for the summary

SYSTEM_PLAIN = "You are a concise assistant for the tracelake end-to-end tests."
USER_PLAIN = "Say hello to the tracelake test suite in one short sentence."
SYSTEM_TOOL = "You are a weather assistant. Use the get_weather tool to answer questions about the weather."
USER_TOOL = "What is the weather in Paris right now?"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name, e.g. Paris"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
USER_ID = "user-42"


def weather_lookup(city):
    return {"city": city, "temperature_c": 18, "conditions": "partly cloudy"}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lib", required=True, choices=LIBS)
    p.add_argument("--openai-base", required=True, help="e.g. http://127.0.0.1:PORT/v1")
    p.add_argument("--otlp-endpoint", required=True, help="e.g. http://127.0.0.1:4318")
    p.add_argument("--protocol", default="http/protobuf", choices=("http/protobuf", "grpc"))
    p.add_argument("--model", default="gpt-4o-mini")
    p.add_argument("--session-id", default=None, help="default: sess-<lib>-0001")
    p.add_argument("--bare", action="store_true", help="no agent/tool/session wrapper spans")
    return p.parse_args()


def configure_env(lib):
    """Content capture on for every library; set before any instrumentation is imported."""
    for k in ("OTEL_SEMCONV_STABILITY_OPT_IN", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
              "OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT", "OTEL_SDK_DISABLED"):
        os.environ.pop(k, None)
    if lib == "openai-v2":
        os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true"
    elif lib == "openai-v2-latest":
        os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
        os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "span_and_event"
        os.environ["OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT"] = "true"
    elif lib == "openinference":
        for k in list(os.environ):
            if k.startswith("OPENINFERENCE_HIDE_"):
                del os.environ[k]
    elif lib in ("traceloop", "traceloop-legacy"):
        os.environ["TRACELOOP_TRACE_CONTENT"] = "true"
        os.environ["TRACELOOP_TELEMETRY"] = "false"
        os.environ["TRACELOOP_METRICS_ENABLED"] = "true"
        for k in ("TRACELOOP_API_KEY", "TRACELOOP_BASE_URL", "TRACELOOP_HEADERS"):
            os.environ.pop(k, None)


FAILURES = []
EXPORTED = {"spans": 0, "log_records": 0, "metric_exports": 0}


def checked(cls, counter):
    """A subclass of an OTLP exporter that records failed exports and counts what was sent."""

    class Checked(cls):
        def export(self, batch, *a, **k):
            result = super().export(batch, *a, **k)
            if getattr(result, "name", str(result)) != "SUCCESS":
                FAILURES.append("%s export returned %s" % (cls.__name__, result))
            elif counter == "metric_exports":
                EXPORTED[counter] += 1
            else:
                EXPORTED[counter] += len(batch)
            return result

    Checked.__name__ = cls.__name__
    return Checked


def make_exporters(endpoint, protocol):
    base = endpoint.rstrip("/")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        if "://" not in base:
            base = "http://" + base
        kw = lambda _path: {"endpoint": base, "insecure": base.startswith("http://")}
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        kw = lambda path: {"endpoint": base + path}
    return (checked(OTLPSpanExporter, "spans")(**kw("/v1/traces")),
            checked(OTLPLogExporter, "log_records")(**kw("/v1/logs")),
            checked(OTLPMetricExporter, "metric_exports")(**kw("/v1/metrics")))


def setup_providers(lib, endpoint, protocol):
    """Global tracer/logger/meter providers exporting OTLP; returns (tracer_provider, extras)."""
    from opentelemetry import metrics, trace
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    service = "otel-client-" + lib
    span_exp, log_exp, metric_exp = make_exporters(endpoint, protocol)
    resource = Resource.create({"service.name": service})
    if lib in ("traceloop", "traceloop-legacy"):
        from traceloop.sdk import Traceloop
        from traceloop.sdk.instruments import Instruments
        Traceloop.init(app_name=service, api_endpoint=endpoint, exporter=span_exp,
                       metrics_exporter=metric_exp, instruments={Instruments.OPENAI},
                       resource_attributes={}, telemetry_enabled=False)
        return trace.get_tracer_provider(), metrics.get_meter_provider(), None
    if lib == "openinference":
        from openinference.instrumentation import TracerProvider as OITracerProvider
        tp = OITracerProvider(resource=resource)
    else:
        tp = TracerProvider(resource=resource)
    tp.add_span_processor(BatchSpanProcessor(span_exp))
    trace.set_tracer_provider(tp)
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(BatchLogRecordProcessor(log_exp))
    set_logger_provider(lp)
    mp = MeterProvider(resource=resource, metric_readers=[
        PeriodicExportingMetricReader(metric_exp, export_interval_millis=3_600_000)])
    metrics.set_meter_provider(mp)
    if lib in ("openai-v2", "openai-v2-latest"):
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
        OpenAIInstrumentor().instrument(tracer_provider=tp, logger_provider=lp, meter_provider=mp)
    else:
        from openinference.instrumentation.openai import OpenAIInstrumentor
        OpenAIInstrumentor().instrument(tracer_provider=tp)
    return tp, mp, lp


def record(calls, step, resp):
    msg = resp.choices[0].message
    u = resp.usage
    details = getattr(u, "prompt_tokens_details", None)
    calls.append({
        "step": step,
        "response_id": resp.id,
        "response_model": resp.model,
        "finish_reason": resp.choices[0].finish_reason,
        "usage": {
            "prompt_tokens": u.prompt_tokens,
            "completion_tokens": u.completion_tokens,
            "total_tokens": u.total_tokens,
            "cached_tokens": getattr(details, "cached_tokens", None) if details else None,
        },
        "content": msg.content,
        "tool_calls": [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
                       for c in (msg.tool_calls or [])],
    })
    return msg


def run_scenario(lib, client, model, session_id, bare, tp, mp, lp):
    calls = []
    params = {"model": model, "temperature": 0.2, "max_tokens": 200}

    # (a) a plain chat completion, its own root span
    resp = client.chat.completions.create(messages=[
        {"role": "system", "content": SYSTEM_PLAIN},
        {"role": "user", "content": USER_PLAIN},
    ], **params)
    record(calls, "plain", resp)

    # (b) the tool round trip; `execute` runs one tool call (wrapped per library)
    def round_trip(execute):
        messages = [{"role": "system", "content": SYSTEM_TOOL}, {"role": "user", "content": USER_TOOL}]
        first = client.chat.completions.create(messages=messages, tools=[WEATHER_TOOL], **params)
        msg = record(calls, "tool_call", first)
        if not msg.tool_calls:
            raise RuntimeError("expected a tool call, got %r" % msg.content)
        messages.append(msg.model_dump(exclude_none=True, exclude={"annotations", "refusal"}))
        for call in msg.tool_calls:
            args = json.loads(call.function.arguments)
            result = execute(call.id, call.function.name, args)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
        final = client.chat.completions.create(messages=messages, tools=[WEATHER_TOOL], **params)
        out = record(calls, "final", final)
        return out.content

    def plain_execute(call_id, name, args):
        return weather_lookup(**args)

    if bare or lib == "openai-v2":
        round_trip(plain_execute)
    elif lib == "openai-v2-latest":
        from opentelemetry.util.genai.handler import TelemetryHandler
        handler = TelemetryHandler(tracer_provider=tp, meter_provider=mp, logger_provider=lp)

        def execute(call_id, name, args):
            with handler.tool(name, arguments=args, tool_call_id=call_id, tool_type="function",
                              tool_description=WEATHER_TOOL["function"]["description"]) as inv:
                result = weather_lookup(**args)
                inv.tool_result = result
                return result

        with handler.invoke_local_agent("openai", request_model=model) as agent:
            agent.agent_name = "weather_agent"
            agent.conversation_id = session_id
            round_trip(execute)
    elif lib == "openinference":
        from openinference.instrumentation import using_session, using_user
        tracer = tp.get_tracer("tracelake.otel_clients")

        def execute(call_id, name, args):
            with tracer.start_as_current_span(name, openinference_span_kind="tool") as span:
                span.set_tool(name=name, description=WEATHER_TOOL["function"]["description"],
                              parameters=WEATHER_TOOL["function"]["parameters"])
                span.set_attribute("tool.id", call_id)
                span.set_input(json.dumps(args), mime_type="application/json")
                result = weather_lookup(**args)
                span.set_output(json.dumps(result), mime_type="application/json")
                return result

        with using_session(session_id), using_user(USER_ID):
            with tracer.start_as_current_span("weather_agent", openinference_span_kind="agent") as span:
                span.set_input(USER_TOOL)
                answer = round_trip(execute)
                span.set_output(answer)
    elif lib in ("traceloop", "traceloop-legacy"):
        from traceloop.sdk import Traceloop
        from traceloop.sdk.decorators import agent, conversation, tool

        @tool(name="get_weather")
        def get_weather(city):
            return weather_lookup(city)

        def execute(call_id, name, args):
            return get_weather(**args)

        @conversation(conversation_id=session_id)
        @agent(name="weather_agent")
        def weather_agent():
            Traceloop.set_association_properties({"session_id": session_id, "user_id": USER_ID})
            return round_trip(execute)

        weather_agent()
    return calls


def versions():
    from importlib.metadata import PackageNotFoundError, version
    out = {}
    for pkg in ("openai", "opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http",
                "opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai",
                "openinference-instrumentation-openai", "openinference-instrumentation",
                "openinference-semantic-conventions", "traceloop-sdk",
                "opentelemetry-instrumentation-openai", "opentelemetry-semantic-conventions-ai"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def main():
    args = parse_args()
    session_id = args.session_id or "sess-%s-0001" % args.lib
    configure_env(args.lib)
    if args.lib.startswith("traceloop"):
        from importlib.metadata import version
        legacy = tuple(int(x) for x in version("traceloop-sdk").split(".")[:2]) < (0, 55)
        if legacy != (args.lib == "traceloop-legacy"):
            raise SystemExit("--lib %s needs %s, this Python has traceloop-sdk %s (see setup.sh)" % (
                args.lib, "traceloop-sdk<0.55" if args.lib == "traceloop-legacy" else "traceloop-sdk>=0.55",
                version("traceloop-sdk")))
    tp, mp, lp = setup_providers(args.lib, args.otlp_endpoint, args.protocol)

    import openai
    client = openai.OpenAI(base_url=args.openai_base, api_key="sk-tracelake-test-0000",
                           max_retries=0, timeout=30.0)
    calls, error = [], None
    try:
        calls = run_scenario(args.lib, client, args.model, session_id, args.bare, tp, mp, lp)
    except Exception as e:  # report, but still flush what was recorded
        error = "%s: %s" % (type(e).__name__, e)
    finally:
        for provider in (tp, lp):  # the meter provider exports once, on shutdown
            if provider is None:
                continue
            flush = getattr(provider, "force_flush", None)
            if flush and flush() is False:
                FAILURES.append("%s.force_flush failed" % type(provider).__name__)
        for provider in (tp, lp, mp):
            if provider is not None and hasattr(provider, "shutdown"):
                provider.shutdown()
    if error:
        FAILURES.insert(0, error)
    if not EXPORTED["spans"]:
        FAILURES.append("no span was exported")
    tool_call_ids = [c["id"] for call in calls for c in call["tool_calls"]]
    summary = {
        "lib": args.lib,
        "service_name": "otel-client-" + args.lib,
        "protocol": args.protocol,
        "otlp_endpoint": args.otlp_endpoint,
        "request_model": args.model,
        "response_models": sorted({c["response_model"] for c in calls}),
        "session_id": None if args.bare or args.lib == "openai-v2" else session_id,
        "calls": calls,
        "tool_call_ids": tool_call_ids,
        "totals": {k: sum(c["usage"][k] or 0 for c in calls)
                   for k in ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens")},
        "exported": EXPORTED,
        "versions": versions(),
        "ok": not FAILURES,
        "failures": FAILURES,
    }
    REAL_STDOUT.write(json.dumps(summary, indent=2) + "\n")
    REAL_STDOUT.flush()
    return 0 if not FAILURES else 1


if __name__ == "__main__":
    sys.exit(main())
