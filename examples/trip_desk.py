"""Three agents on one thread, each on another wire API: the agents of the recorded end-to-end runs.

- The flight researcher (tools `find_flights`, `get_weather`) answers a travel question and ends with
  the finish tool. `find_flights` wants IATA airport codes and says so when given a city name, so a
  model that guesses wrong gets an error result to recover from.
- The budget checker (tool `convert_currency`) continues the researcher's thread by `thread_id` and
  converts the fare.
- The note writer (no tools of its own) continues the same thread and writes the answer up.

`tools/record_runs.py` records them into `cassettes/runs/` and `tests/run/test_run_cassettes.py` replays
them with the real SDK clients. The tools answer from fixed tables, so a replay runs the same tools
on the same arguments and gets the same results the recording did.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from loopline import Agent, ExecutionResult, Store, tool
from loopline.agent import Finished, RunEvent

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes" / "runs"

WAYS = ("run", "arun", "stream", "astream")
"""The four ways loopline drives the loop; the last two yield events as they happen."""

CHAT_MODEL = "openai:gpt-4o-mini"
RESPONSES_MODEL = "openai_responses:gpt-5-mini"
ANTHROPIC_MODEL = "anthropic:claude-sonnet-4-6"

QUESTION = ("I'm flying from Oslo to Lisbon on 14 June 2025. Find the cheapest direct flight and tell me "
            "what weather to expect when I land.")
CONVERT = "How much is that fare in euros?"
WRITE_UP = "Write a two-sentence note for the traveller with the flight, the fare in euros and the weather."

_AIRPORTS = {"OSL": "Oslo", "LIS": "Lisbon", "BER": "Berlin"}
_FLIGHTS: dict[tuple[str, str, str], list[dict[str, Any]]] = {
    ("OSL", "LIS", "2025-06-14"): [
        {"flight": "TP1753", "carrier": "TAP Air Portugal", "departs": "11:40", "arrives": "14:25", "stops": 0,
         "price": 2140, "currency": "NOK"},
        {"flight": "DY1310", "carrier": "Norwegian", "departs": "07:05", "arrives": "09:55", "stops": 0,
         "price": 1840, "currency": "NOK"},
        {"flight": "LH863", "carrier": "Lufthansa", "departs": "06:00", "arrives": "12:10", "stops": 1,
         "price": 1690, "currency": "NOK"},
    ],
}
_FORECASTS = {("lisbon", "2025-06-14"): {"high_c": 27, "low_c": 18, "sky": "sunny", "wind_kmh": 14},
              ("oslo", "2025-06-14"): {"high_c": 19, "low_c": 11, "sky": "showers", "wind_kmh": 20}}
_EUR_PER = {"NOK": 0.0858, "USD": 0.8821, "EUR": 1.0}
_IATA = re.compile(r"[A-Z]{3}")


@tool
def find_flights(origin: str, destination: str, date: str) -> list[dict[str, Any]]:
    """Flights between two airports on a date, with stops and price.

    Args:
        origin: The departure airport's IATA code, e.g. "OSL".
        destination: The arrival airport's IATA code, e.g. "LIS".
        date: The travel date, YYYY-MM-DD.
    """
    for role, code in (("origin", origin), ("destination", destination)):
        if not _IATA.fullmatch(code):
            raise ValueError(f"{role} {code!r} is not an IATA airport code (three capital letters, e.g. 'OSL')")
        if code not in _AIRPORTS:
            raise ValueError(f"{role} {code!r} is not an airport this desk serves; it serves {', '.join(_AIRPORTS)}")
    return _FLIGHTS.get((origin, destination, date), [])


@tool
def get_weather(city: str, date: str) -> dict[str, Any]:
    """The weather forecast for a city on a date.

    Args:
        city: The city's name, e.g. "Lisbon".
        date: The day, YYYY-MM-DD.
    """
    forecast = _FORECASTS.get((city.strip().lower(), date))
    if forecast is None:
        raise ValueError(f"no forecast for {city!r} on {date}")
    return {"city": city, "date": date, **forecast}


@tool
def convert_currency(amount: float, from_currency: str, to_currency: str) -> dict[str, Any]:
    """Convert an amount of money at today's rate.

    Args:
        amount: The amount to convert.
        from_currency: The ISO 4217 code of the amount's currency, e.g. "NOK".
        to_currency: The ISO 4217 code to convert to, e.g. "EUR".
    """
    for code in (from_currency, to_currency):
        if code not in _EUR_PER:
            raise ValueError(f"unknown currency {code!r}; known: {', '.join(_EUR_PER)}")
    rate = round(_EUR_PER[from_currency] / _EUR_PER[to_currency], 4)
    return {"amount": amount, "from": from_currency, "to": to_currency, "rate": rate,
            "converted": round(amount * rate, 2)}


def researcher(store: Store | None = None) -> Agent:
    """Finds flights and the weather, in parallel where it can, and ends with the finish tool."""
    return Agent(name="flight-researcher", tools=[find_flights, get_weather], require_finish_tool=True, store=store,
                 instructions="You plan trips with your tools. Call independent tools in parallel. When you have "
                              "the answer, call finish with it.")


def budget_checker(store: Store | None = None) -> Agent:
    """Converts prices found earlier in the thread, and ends with the finish tool."""
    return Agent(name="budget-checker", tools=[convert_currency], require_finish_tool=True, store=store,
                 instructions="You check travel budgets. Convert prices with convert_currency, never in your "
                              "head, then call finish with the figure.")


def note_writer(store: Store | None = None) -> Agent:
    """Writes for people from whatever the thread already holds; its reply ends the execution."""
    return Agent(name="note-writer", store=store,
                 instructions="You write short, friendly notes for travellers. Reply with the note only.")


def is_async(way: str) -> bool:
    """Whether `way` needs an async SDK client."""
    return way in ("arun", "astream")


def run_one_way(agent: Agent, way: str, input: str | None, *, model: str,
                client: Any) -> tuple[ExecutionResult, list[RunEvent]]:
    """Run the agent's task (started with `input`, or added before) to its end with `agent.run`, `await
    agent.arun`, `agent.stream` or `agent.astream`; returns the result and the events streamed (none for
    the first two). `client` is an SDK client, async for `arun` and `astream`."""
    if way == "run":
        return agent.run(input, model=model, client=client), []
    if way == "arun":
        return asyncio.run(agent.arun(input, model=model, client=client)), []

    async def collect() -> list[RunEvent]:
        return [event async for event in agent.astream(input, model=model, client=client)]

    if way not in WAYS:
        raise ValueError(f"unknown way {way!r}; one of {', '.join(WAYS)}")
    events = list(agent.stream(input, model=model, client=client)) if way == "stream" else asyncio.run(collect())
    last = events[-1]
    if not isinstance(last, Finished):
        raise TypeError(f"a stream must end with Finished, this one ended with {last!r}")
    return last.result, events
