#!/usr/bin/env python3
"""Writes tests/fixtures/bfcl_multi_turn/*.json from the official BFCL wheel.

Usage (from the repository root, Python 3.11, mpmath installed):
    scripts/fetch-bfcl.sh
    python3 scripts/bfcl_multi_turn_fixtures.py

Oracles: CPython's `random.Random` (random.json) and the official harness
function `execute_multi_turn_func_call` running the original backend classes
of bfcl-eval==2026.3.23 (one <Class>.json per ported backend). Each backend
fixture replays the class's ground-truth calls of the first multi_turn_base
entries that involve it (only that class instantiated, calls of other classes
dropped), then hand-written error cases; it records every result string and
the public attributes after each case (the state the official checker
compares; sets as sorted lists), as `json.dumps`.
"""
import json
import os
import random
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("TRAINER_CACHE", os.path.join(ROOT, ".cache", "assets"))
WHEEL = os.path.join(CACHE, "bfcl", ".download", "bfcl_eval-2026.3.23-py3-none-any.whl")
DATA = os.path.join(CACHE, "bfcl", "data")
OUT = os.path.join(ROOT, "tests", "fixtures", "bfcl_multi_turn")
ENTRIES_PER_CLASS = 10

tmp = tempfile.mkdtemp()
with zipfile.ZipFile(WHEEL) as z:
    z.extractall(tmp, [m for m in z.namelist() if m.startswith("bfcl_eval/")
                       and not m.startswith("bfcl_eval/data/")])
sys.path.insert(0, tmp)
from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils import (  # noqa: E402
    execute_multi_turn_func_call,
)


def write(name, obj):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, ensure_ascii=True)
        f.write("\n")


def random_fixture():
    seeds = [0, 1, 42, 200191, 141053, 1053520, 2**32 + 5, 2**70 + 3, -7]
    cases = []
    for seed in seeds:
        r = random.Random(seed)
        cases.append({
            "seed": str(seed),
            "getrandbits32": [r.getrandbits(32) for _ in range(8)],
            "random": [repr(r.random()) for _ in range(6)],
            "randint_5": [r.randint(10000, 99999) for _ in range(20)],
            "randint_12": [r.randint(100000000000, 999999999999) for _ in range(8)],
            "randint_small": [r.randint(0, 2) for _ in range(12)],
            "uniform": [repr(r.uniform(-10.0, 40.0)) for _ in range(6)],
            "choice10": [r.choice(range(10)) for _ in range(10)],
        })
    write("random.json", cases)


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def fs_object(obj):
    """GorillaFileSystem's tree as the state checker compares it: a File by
    name and content, a Directory by name and contents (parents ignored)."""
    if hasattr(obj, "contents"):
        return {"name": obj.name, "contents": obj.contents}
    if hasattr(obj, "content"):
        return {"name": obj.name, "content": obj.content}
    raise TypeError(f"not serializable: {obj!r}")


def public_state(instance):
    out = {}
    for k, v in vars(instance).items():
        if k.startswith("_"):
            continue
        out[k] = sorted(v) if isinstance(v, set) else v
    return json.dumps(out, default=fs_object)


def run_case(label, cls, config, calls):
    results, instances = execute_multi_turn_func_call(
        calls, config, [cls], "fixture", label)
    return {"id": label, "initial_config": config, "calls": calls,
            "results": results, "state": public_state(instances[cls])}


def method_names(cls):
    import importlib
    from bfcl_eval.constants.executable_backend_config import CLASS_FILE_PATH_MAPPING
    klass = getattr(importlib.import_module(CLASS_FILE_PATH_MAPPING[cls]), cls)
    return {n for n in dir(klass) if not n.startswith("_") and callable(getattr(klass, n))}


def backend_fixture(cls, error_cases, skip=(), limit=ENTRIES_PER_CLASS):
    questions = load(os.path.join(DATA, "BFCL_v4_multi_turn_base.json"))
    answers = {a["id"]: a for a in load(os.path.join(DATA, "possible_answer", "BFCL_v4_multi_turn_base.json"))}
    names = method_names(cls)
    cases = []
    for q in questions:
        if cls not in q["involved_classes"] or len(cases) >= limit:
            continue
        calls = [c for turn in answers[q["id"]]["ground_truth"] for c in turn
                 if c.split("(")[0] in names and c.split("(")[0] not in skip]
        if calls:
            config = {cls: q["initial_config"].get(cls, {})}
            cases.append(run_case(q["id"], cls, config, calls))
    for n, case in enumerate(error_cases):
        config, calls = case if isinstance(case, tuple) else case()
        cases.append(run_case(f"{cls}_errors_{n}", cls, {cls: config}, calls))
    write(f"{cls}.json", cases)
    print(cls, len(cases), "cases,", sum(len(c["calls"]) for c in cases), "calls")


COMMON_ERRORS = ["no_such_function()", "kill()", "exit(1)"]

TICKET_ERRORS = [
    ({}, ["create_ticket(title='x')", "get_user_tickets()", "logout()",
          "ticket_login(username='', password='p')", "ticket_get_login_status()",
          "ticket_login(username='amy', password='p')", "ticket_get_login_status()",
          "create_ticket(title='a', priority=7)", "create_ticket(title='a', priority=0)",
          "create_ticket(title='a', description='d', priority=5)", "create_ticket('b', 'desc', 2)",
          "create_ticket(title='c', priority='high')",
          "get_ticket(ticket_id=1)", "get_ticket(ticket_id=99)", "get_ticket()", "get_ticket(1, 2)",
          "get_ticket(id=1)", "get_ticket(1, ticket_id=1)",
          "close_ticket(ticket_id=1)", "close_ticket(ticket_id=1)", "close_ticket(ticket_id=42)",
          "resolve_ticket(ticket_id=2, resolution='fixed')", "resolve_ticket(ticket_id=2, resolution='again')",
          "edit_ticket(ticket_id=2, updates={'foo': 1})", "edit_ticket(ticket_id=2, updates={'title': 'T', 'priority': None})",
          "edit_ticket(ticket_id=7, updates={})", "edit_ticket(ticket_id=1, updates='x')",
          "get_user_tickets(status='open')", "get_user_tickets(status='CLOSED')", "get_user_tickets()",
          "logout()", "logout()", "resolve_ticket(ticket_id=1)"] + COMMON_ERRORS),
]

MESSAGE_ERRORS = [
    ({}, ["send_message(receiver_id='USR002', message='hi')", "view_messages_sent()", "search_messages(keyword='x')",
          "get_message_stats()", "delete_message(receiver_id='USR002')", "message_get_login_status()",
          "list_users()", "get_user_id(user='Bob')", "get_user_id(user='Zed')",
          "message_login(user_id='USR999')", "message_login(user_id='USR001')", "message_get_login_status()",
          "send_message(receiver_id='USR999', message='hi')"]
     + [f"send_message(receiver_id='USR00{2 + n % 3}', message='m{n} Hello')" for n in range(40)]
     + ["view_messages_sent()", "search_messages(keyword='HELLO')", "search_messages(keyword='file')",
        "get_message_stats()", "delete_message(receiver_id='USR003')", "delete_message(receiver_id='USR404')",
        "add_contact(user_name='Alice')", "add_contact(user_name='Eve')", "add_contact('Frank')",
        "list_users()", "send_message('USR005', 'x')", "send_message(receiver_id='USR001')",
        "get_message_stats()"] + COMMON_ERRORS),
    ({"user_count": 4, "user_map": {"A": "USR001", "B": "USR005"}, "inbox": [{"USR005": "dup"}, {"USR001": "x"}, {"USR005": "dup"}],
      "message_count": 3, "current_user": "USR001"},
     ["add_contact(user_name='C')", "delete_message(receiver_id='USR005')", "view_messages_sent()", "get_message_stats()"]),
]

MATH_ERRORS = [
    ({}, ["mean(numbers=[])", "mean(numbers=[1, 2, 4])", "mean(numbers=[1.5, 'a'])", "mean(numbers=[0.1, 0.2, 0.3])",
          "standard_deviation(numbers=[2, 4, 4, 4, 5, 5, 7, 9])", "standard_deviation(numbers=[1.1, 2.2, 3.3])",
          "standard_deviation(numbers=[])", "sum_values(numbers=[1, 2, 3])", "sum_values(numbers=[0.1, 0.2])",
          "sum_values(numbers=[])", "min_value(numbers=[3, 1.0, 1, 2])", "max_value(numbers=[3, 3.0, 1])",
          "min_value(numbers=[])", "max_value(numbers=['a', 1])",
          "add(a=1, b=2)", "add(a=1.5, b=2)", "add(a='x', b='y')", "add(a=1, b='y')", "add(a=True, b=2)",
          "subtract(a=10, b=2.5)", "subtract(a='a', b=1)", "multiply(a=3, b=4)", "multiply(a=0.1, b=3)",
          "multiply(a='3', b=4)", "divide(a=1, b=3)", "divide(a=1, b=0)", "divide(a=4, b=2)", "divide(a='x', b=0)",
          "divide(a='x', b=2)", "power(base=2, exponent=10)", "power(base=2, exponent=-1)", "power(base=2.5, exponent=0.5)",
          "power(base=9, exponent=0.5)", "power(base='a', exponent=2)", "absolute_value(number=-3)",
          "absolute_value(number=-2.5)", "absolute_value(number='a')", "round_number(number=2.675, decimal_places=2)",
          "round_number(number=2.5)", "round_number(number=7)", "round_number(number=3.14159, decimal_places=3)",
          "round_number(number=1.0005, decimal_places=3)", "round_number(number='a')",
          "percentage(part=1, whole=3)", "percentage(part=5, whole=0)", "percentage(part=45.5, whole=200)",
          "si_unit_conversion(value=5, unit_in='km', unit_out='m')", "si_unit_conversion(value=3.2, unit_in='cm', unit_out='mm')",
          "si_unit_conversion(value=1, unit_in='nm', unit_out='um')", "si_unit_conversion(value=1, unit_in='mile', unit_out='m')",
          "si_unit_conversion(value='1', unit_in='m', unit_out='km')",
          "imperial_si_conversion(value=100, unit_in='celsius', unit_out='fahrenheit')",
          "imperial_si_conversion(value=212, unit_in='fahrenheit', unit_out='celsius')",
          "imperial_si_conversion(value=10, unit_in='miles', unit_out='km')",
          "imperial_si_conversion(value=10, unit_in='kg', unit_out='kg')",
          "imperial_si_conversion(value=10, unit_in='kg', unit_out='stone')",
          "imperial_si_conversion(value=None, unit_in='kg', unit_out='lb')",
          "mean()", "add(1, 2, 3)"] + COMMON_ERRORS),
]

TWITTER_ERRORS = [
    ({}, ["post_tweet(content='x')", "retweet(tweet_id=0)", "comment(tweet_id=0, comment_content='c')",
          "follow_user(username_to_follow='z')", "list_all_following()", "unfollow_user(username_to_unfollow='bob')",
          "posting_get_login_status()", "authenticate_twitter(username='john', password='bad')",
          "authenticate_twitter(username='john', password='john123')", "posting_get_login_status()",
          "post_tweet(content='Hello World')", "post_tweet(content='Second', tags=['#A', '#b'])",
          "post_tweet('Third', ['#c'], ['@x'])", "mention(tweet_id=0, mentioned_usernames=['@u1', '@u2'])",
          "post_tweet(content='Fourth')", "get_tweet(tweet_id=0)", "get_tweet(tweet_id=1)", "get_tweet(tweet_id=3)",
          "mention(tweet_id=2, mentioned_usernames=['@y'])", "mention(tweet_id=9, mentioned_usernames=['@y'])",
          "get_tweet(tweet_id=9)", "retweet(tweet_id=1)", "retweet(tweet_id=1)", "retweet(tweet_id=7)",
          "comment(tweet_id=1, comment_content='nice')", "comment(tweet_id=1, comment_content='again')",
          "comment(tweet_id=8, comment_content='x')", "get_tweet_comments(tweet_id=1)", "get_tweet_comments(tweet_id=0)",
          "get_tweet_comments(tweet_id=5)", "follow_user(username_to_follow='alice')", "follow_user(username_to_follow='carol')",
          "unfollow_user(username_to_unfollow='bob')", "unfollow_user(username_to_unfollow='dave')", "list_all_following()",
          "get_user_tweets(username='john')", "get_user_tweets(username='nobody')", "search_tweets(keyword='WORLD')",
          "search_tweets(keyword='#b')", "search_tweets(keyword='zzz')", "get_user_stats(username='john')",
          "get_user_stats(username='alice')", "get_tweet(tweet_id=[1])", "post_tweet()"] + COMMON_ERRORS),
    ({"username": "u", "password": "p", "authenticated": True, "tweet_counter": 1,
      "tweets": {"0": {"id": 0, "username": "u", "content": "old", "tags": [], "mentions": []},
                 "1": {"id": 1, "username": "v", "content": "other", "tags": ["#T"], "mentions": ["@a"]}},
      "comments": {"0": [{"username": "v", "content": "hi"}]}},
     ["get_tweet_comments(tweet_id=0)", "comment(tweet_id=0, comment_content='x')", "get_tweet_comments(tweet_id=0)",
      "post_tweet(content='overwrites one')", "get_user_stats(username='u')", "search_tweets(keyword='#t')",
      "mention(tweet_id=1, mentioned_usernames='ab')", "get_tweet(tweet_id=1)"]),
]

TRADING_ERRORS = [
    ({}, ["get_watchlist()", "get_order_history()", "get_account_info()", "get_transaction_history()",
          "place_order(order_type='Buy', symbol='AAPL', price=1.0, amount=1)", "fund_account(amount=10)",
          "withdraw_funds(amount=5)", "remove_stock_from_watchlist(symbol='NVDA')", "trading_logout()",
          "trading_get_login_status()", "trading_login(username='a', password='b')", "trading_login(username='a', password='b')",
          "get_current_time()", "get_symbol_by_name(name='Tesla')", "get_symbol_by_name(name='Nope')",
          "get_stock_info(symbol='MSFT')", "get_stock_info(symbol='XXX')", "get_order_details(order_id=12345)",
          "get_order_details(order_id=1)", "cancel_order(order_id=12345)", "cancel_order(order_id=12446)",
          "cancel_order(order_id=5)", "place_order(order_type='Buy', symbol='XXX', price=10, amount=1)",
          "place_order(order_type='Buy', symbol='AAPL', price=0, amount=1)",
          "place_order(order_type='Buy', symbol='GOOG', price=2840.34, amount=100)",
          "place_order(order_type='Buy', symbol='AAPL', price=227.16, amount=3)",
          "place_order(order_type='sell', symbol='TSLA', price=700, amount=2)", "get_order_history()",
          "get_order_details(order_id=12446)", "withdraw_funds(amount=5)", "fund_account(amount=0)",
          "fund_account(amount=1234.56)", "fund_account(amount=7)", "fund_account(amount=0.1)",
          "get_account_info()", "get_transaction_history()", "get_transaction_history(start_date='2024-09-02')",
          "get_transaction_history(end_date='2024-09-01')", "get_transaction_history(start_date='09/01/2024')",
          "get_available_stocks(sector='Technology')", "get_available_stocks(sector='Food')",
          "filter_stocks_by_price(stocks=['AAPL', 'GOOG', 'ZZZ', 'NEPT'], min_price=50, max_price=500)",
          "filter_stocks_by_price(stocks=['ZZZ'], min_price=0, max_price=1)",
          "add_to_watchlist(stock='AAPL')", "add_to_watchlist(stock='AAPL')", "add_to_watchlist(stock='ZZZ')",
          "remove_stock_from_watchlist(symbol='NVDA')", "remove_stock_from_watchlist(symbol='NVDA')", "get_watchlist()",
          "notify_price_change(stocks=['AAPL', 'TSLA', 'NVDA', 'ZZZ'], threshold=0.15)",
          "notify_price_change(stocks=['MSFT'], threshold=5)", "place_order(order_type=1, symbol='AAPL', price=1, amount=1)",
          "trading_logout()", "trading_logout()"] + COMMON_ERRORS),
    ({"market_status": "Open", "authenticated": True, "orders": {"7": {"id": 7, "order_type": "Buy", "symbol": "AAPL",
      "price": 1.5, "amount": 2, "status": "Open"}}, "order_counter": 8, "account_info": {"account_id": 1, "balance": 100, "binding_card": 1}},
     ["withdraw_funds(amount=30)", "withdraw_funds(amount=30.25)", "withdraw_funds(amount=500)", "withdraw_funds(amount=-1)",
      "get_order_details(order_id=7)", "get_order_history()", "place_order(order_type='Buy', symbol='AAPL', price=50, amount=1.9)",
      "get_transaction_history(start_date='2024-09-01', end_date='2024-09-01')", "get_account_info()"]
     + ["fund_account(amount=1)"] * 30 + ["get_transaction_history(start_date='2024-09-02')"]),
]

VEHICLE_ERRORS = [
    ({}, ["startEngine(ignitionMode='START')", "lockDoors(unlock=False, door=['driver', 'passenger'])",
          "startEngine(ignitionMode='START')", "lockDoors(unlock=False, door=['rear_left', 'rear_right', 'driver'])",
          "startEngine(ignitionMode='START')", "pressBrakePedal(pedalPosition=0.5)", "startEngine(ignitionMode='START')",
          "pressBrakePedal(pedalPosition=1)", "startEngine(ignitionMode='STOP')", "startEngine(ignitionMode='START')",
          "displayCarStatus(option='engine')", "displayCarStatus(option='brakePedal')", "pressBrakePedal(pedalPosition=1.5)",
          "pressBrakePedal(pedalPosition=0)", "releaseBrakePedal()", "fillFuelTank(fuelAmount=-1)",
          "fillFuelTank(fuelAmount=60)", "fillFuelTank(fuelAmount=12.5)", "fillFuelTank(fuelAmount=10)",
          "displayCarStatus(option='fuel')", "displayCarStatus(option='battery')", "displayCarStatus(option='doors')",
          "displayCarStatus(option='climate')", "displayCarStatus(option='headlights')", "displayCarStatus(option='parkingBrake')",
          "displayCarStatus(option='wheels')", "lockDoors(unlock=True, door=['driver'])", "lockDoors(unlock=True, door=['driver'])",
          "lockDoors(unlock=False, door=['trunk'])", "lockDoors(unlock=False, door='driver')",
          "adjustClimateControl(temperature=72, unit='fahrenheit', fanSpeed=30, mode='cool')",
          "adjustClimateControl(temperature=20.5)", "adjustClimateControl(temperature=20, fanSpeed=101)",
          "adjustClimateControl(temperature=68.5, unit='fahrenheit')",
          "get_outside_temperature_from_google()", "get_outside_temperature_from_google()", "get_current_speed()",
          "get_current_speed()", "get_outside_temperature_from_weather_com()", "setHeadlights(mode='on')",
          "setHeadlights(mode='auto')", "setHeadlights(mode='blink')", "activateParkingBrake(mode='engage')",
          "displayCarStatus(option='parkingBrake')", "activateParkingBrake(mode='release')", "activateParkingBrake(mode='x')",
          "setCruiseControl(speed=65, activate=True, distanceToNextVehicle=100)",
          "setCruiseControl(speed=60, activate=True, distanceToNextVehicle=100)",
          "setCruiseControl(speed=130, activate=True, distanceToNextVehicle=80.5)",
          "setCruiseControl(speed='55', activate=False, distanceToNextVehicle='30')",
          "setCruiseControl(speed='fast', activate=False, distanceToNextVehicle=30)",
          "display_log(messages=['a', 'b'])", "estimate_drive_feasibility_by_mileage(distance=300)",
          "estimate_drive_feasibility_by_mileage(distance=1000)", "liter_to_gallon(liter=30)", "gallon_to_liter(gallon=2.5)",
          "estimate_distance(cityA='83214', cityB='74532')", "estimate_distance(cityA='08540', cityB='94016')",
          "estimate_distance(cityA='1', cityB='2')", "get_zipcode_based_on_city(city='Silverpine')",
          "get_zipcode_based_on_city(city='Atlantis')", "set_navigation(destination='1 Main St, Rivermist, CA')",
          "set_navigation(destination=5)", "check_tire_pressure()", "find_nearest_tire_shop()",
          "startEngine(ignitionMode='STOP')", "startEngine()"] + COMMON_ERRORS),
    ({"doorStatus": {"driver": "locked", "passenger": "locked", "rear_left": "locked", "rear_right": "locked"},
      "engineState": "running", "fuelLevel": 5, "brakePedalForce": 1000.0, "brakePedalStatus": "pressed",
      "frontLeftTirePressure": 20.0, "random_seed": 7},
     ["startEngine(ignitionMode='START')", "check_tire_pressure()", "get_current_speed()", "estimate_drive_feasibility_by_mileage(distance=100)",
      "setCruiseControl(speed=0, activate=True, distanceToNextVehicle=1)", "fillFuelTank(fuelAmount=45)"]),
]

TRAVEL_ERRORS = [
    ({}, ["register_credit_card(access_token='x', card_number='1', expiration_date='01/2030', cardholder_name='A', card_verification_number=1)",
          "travel_get_login_status()",
          "authenticate_travel(client_id='c', client_secret='s', refresh_token='r', grant_type='read_write', user_first_name='Ann', user_last_name='Lee')",
          "travel_get_login_status()", "get_budget_fiscal_year()",
          "register_credit_card(access_token='bad', card_number='1', expiration_date='01/2030', cardholder_name='A', card_verification_number=1)",
          "get_all_credit_cards()", "list_all_airports()",
          "get_flight_cost(travel_from='SFO', travel_to='LAX', travel_date='2024-11-15', travel_class='business')",
          "get_flight_cost(travel_from='SFO', travel_to='LAX', travel_date='2024-11-16', travel_class='first')",
          "get_flight_cost(travel_from='LAX', travel_to='XXX', travel_date='2024-11-15', travel_class='economy')",
          "get_flight_cost(travel_from='SFO', travel_to='LAX', travel_date='2024-11-15', travel_class='coach')",
          "get_nearest_airport_by_city(location='Rivermist')", "get_nearest_airport_by_city(location='Atlantis')",
          "compute_exchange_rate(base_currency='USD', target_currency='JPY', value=10)",
          "compute_exchange_rate(base_currency='EUR', target_currency='USD', value=100)",
          "compute_exchange_rate(base_currency='USD', target_currency='GBP', value=12.5)",
          "compute_exchange_rate(base_currency='RMB', target_currency='USD', value=1000)",
          "compute_exchange_rate(base_currency='EUR', target_currency='GBP', value=1)",
          "verify_traveler_information(first_name='Bob', last_name='Lee', date_of_birth='1990-01-01', passport_number='US1')",
          "verify_traveler_information(first_name='Ann', last_name='Lee', date_of_birth='1990/01/01', passport_number='US1')",
          "verify_traveler_information(first_name='Ann', last_name='Lee', date_of_birth='2015-05-05', passport_number='US1')",
          "verify_traveler_information(first_name='Ann', last_name='Lee', date_of_birth='1990-02-30', passport_number='US1')",
          "verify_traveler_information(first_name='Ann', last_name='Lee', date_of_birth='1990-01-01', passport_number='UK1')",
          "verify_traveler_information(first_name='Ann', last_name='Lee', date_of_birth='1990-01-01', passport_number='US1')",
          "contact_customer_support(booking_id='1', message='hi')"] + COMMON_ERRORS),
]


FS_TREE = {"root": {"home": {"type": "directory", "contents": {
    "notes.txt": {"type": "file", "content": "beta line\nalpha line\r\ngamma\x0bdelta\u2028epsilon\n\nzeta budget\n"},
    "a.txt": {"type": "file", "content": "one two  three\tfour\nfive\x1csix\u00a0seven\n"},
    "b.txt": {"type": "file", "content": "one two\nFIVE\nextra line"},
    ".hidden": {"type": "file", "content": "secret"},
    "uni.txt": {"type": "file", "content": "caf\u00e9 \u65e5\u672c \U0001F600\nzzz\nAaa"},
    "docs": {"type": "directory", "contents": {
        "report.pdf": {"type": "file", "content": "Report budget 2024"},
        "sub": {"type": "directory", "contents": {"deep.txt": {"type": "file", "content": "deep budget"}}}}},
    "empty": {"type": "directory", "contents": {}},
    "weird": {"type": "other"}}}}}

BIG_TREE = {"root": {"r": {"type": "directory", "contents": {
    "big.bin": {"type": "file", "content": "x" * 1536},
    "mid.bin": {"type": "file", "content": "\u00e9" * 2000}}}}}

FS_ERRORS = [
    ({}, ["pwd()", "ls()", "ls(a=True)", "cd(folder='..')", "cd(folder='/')", "cd(folder='')", "cd(folder='x')",
          "mkdir(dir_name='a')", "mkdir(dir_name='a')", "mkdir(dir_name='b/c')", "mkdir(dir_name='q?')",
          "cd(folder='a/')", "pwd()", "touch(file_name='f.txt')", "touch(file_name='f.txt')", "touch(file_name='f:x')",
          "echo(content='hello\\nworld')", "echo(content='hi', file_name='')", "echo(content='hi', file_name='f.txt')",
          "echo(content='x', file_name='nope')", "echo(content='x', file_name='a|b')", "cat(file_name='f.txt')",
          "cd(folder='..')", "cd(folder='..')", "cd(folder='.')", "pwd()", "du()", "du(human_readable=True)",
          "find()", "find(path='/')", "find(path='a')", "find(path='zz')", "find(name='f')",
          "mkdir(dir_name=5)", "touch(file_name=None)", "cat(file_name=3)", "cd(folder=1)", "ls(a='yes')",
          "mkdir('.')", "touch('.')", "ls()", "cat('.')", "rmdir('.')", "mkdir(['x'])", "wc(file_name=['x'])",
          "cd()", "mkdir()", "echo()", "pwd(1)", "ls(b=1)", "du(True)"] + COMMON_ERRORS),
    (FS_TREE, ["pwd()", "ls()", "ls(a=True)", "cat(file_name='notes.txt')", "cat(file_name='docs')", "cat(file_name='none')",
               "wc(file_name='notes.txt')", "wc(file_name='notes.txt', mode='w')", "wc(file_name='notes.txt', mode='c')",
               "wc(file_name='a.txt', mode='w')", "wc(file_name='a.txt')", "wc(file_name='uni.txt', mode='c')",
               "wc(file_name='uni.txt', mode='w')", "wc(file_name='docs')", "wc(file_name='a.txt', mode='x')",
               "wc(file_name='zz', mode=1)", "sort(file_name='notes.txt')", "sort(file_name='uni.txt')", "sort(file_name='docs')",
               "sort(file_name='no')", "grep(file_name='notes.txt', pattern='line')", "grep(file_name='notes.txt', pattern='')",
               "grep(file_name='notes.txt', pattern='zzz')", "grep(file_name='docs', pattern='a')",
               "grep(file_name='notes.txt', pattern=1)", "tail(file_name='notes.txt')", "tail(file_name='notes.txt', lines=2)",
               "tail(file_name='notes.txt', lines=0)", "tail(file_name='notes.txt', lines=-2)", "tail(file_name='notes.txt', lines=100)",
               "tail(file_name='notes.txt', lines=True)", "tail(file_name='notes.txt', lines=2.0)", "tail(file_name='notes.txt', lines='3')",
               "tail(file_name='nope')", "tail(file_name='b.txt', lines=1)", "diff(file_name1='a.txt', file_name2='b.txt')",
               "diff(file_name1='b.txt', file_name2='a.txt')", "diff(file_name1='a.txt', file_name2='a.txt')",
               "diff(file_name1='a.txt', file_name2='docs')", "diff(file_name1='x', file_name2=['y'])",
               "diff(file_name1='a.txt', file_name2=['y'])", "du()", "du(human_readable=True)",
               "find(path='.', name='budget')", "find(path='docs')", "find(path='docs/')", "find(path='/home/docs/sub')",
               "find(path='home/docs')", "find(path='./docs')", "find(path='docs/../docs')", "find(path='', name='x')",
               "find(path='/', name='txt')", "find(name='')", "find(name=1)", "find(path=None)", "find(path=3)",
               "find(path='empty', name=1)", "cd(folder='docs')", "pwd()", "cd(folder='sub')", "pwd()",
               "cd(folder='..')", "cd(folder='../..')", "cd(folder='/')", "pwd()", "cd(folder='a.txt')", "cd(folder='docs/sub')",
               "echo(content=42, file_name='b.txt')", "cat(file_name='b.txt')", "wc(file_name='b.txt', mode='c')",
               "wc(file_name='b.txt')", "du()", "echo(content='back', file_name='b.txt')",
               "echo(content='x', file_name='docs')", "mv(source='a.txt', destination='docs')", "ls()",
               "mv(source='nope', destination='x')", "mv(source='b.txt', destination='x/y')", "mv(source='b.txt', destination='notes.txt')",
               "mv(source='b.txt', destination='b2.txt')", "mv(source='docs', destination='documents')", "ls()",
               "cd(folder='documents')", "ls()", "cd(folder='sub')", "pwd()", "cd(folder='..')", "pwd()", "cd(folder='..')",
               "pwd()", "cd(folder='/')", "touch(file_name='a.txt')", "mv(source='a.txt', destination='documents')",
               "mv(source='documents', destination=5)", "mv(source=['x'], destination='y')", "mv(source='b2.txt', destination=['q'])",
               "mkdir(dir_name='dst')", "cp(source='b2.txt', destination='dst')", "cp(source='b2.txt', destination='dst')",
               "cp(source='notes.txt', destination='n2.txt')", "cp(source='notes.txt', destination='n2.txt')",
               "cp(source='none', destination='x')", "cp(source='notes.txt', destination='a/b')",
               "cp(source='documents', destination='dst')", "cp(source='documents', destination='docs2')",
               "cd(folder='docs2')", "echo(content='changed', file_name='report.pdf')", "cd(folder='..')",
               "cd(folder='documents')", "cat(file_name='report.pdf')", "touch(file_name='only_in_documents')", "ls()",
               "cd(folder='..')", "cd(folder='docs2')", "ls()", "cd(folder='sub')", "pwd()", "cd(folder='..')", "pwd()",
               "cd(folder='/')", "find(path='/', name='report')", "ls()",
               "rmdir(dir_name='empty')", "rmdir(dir_name='notes.txt')", "rmdir(dir_name='none')", "rmdir(dir_name='dst')",
               "rm(file_name='notes.txt')", "rm(file_name='notes.txt')", "rm(file_name='dst')", "rm(file_name=1)",
               "rm(file_name='weird')", "ls(a=True)", "du(human_readable=True)", "wc(file_name='n2.txt', mode='w')"]),
    (BIG_TREE, ["du()", "du(human_readable=True)", "wc(file_name='mid.bin', mode='c')", "cd(folder='..')"]),
]


PORTED = {"GorillaFileSystem", "MathAPI", "MessageAPI", "TicketAPI", "TwitterAPI", "TradingBot", "TravelAPI", "VehicleControlAPI"}


def entry_fixture(every=6):
    """Whole multi_turn_base entries (all classes ported), every `every`-th
    one: results per turn through the official harness, state of every
    class after the last turn."""
    questions = load(os.path.join(DATA, "BFCL_v4_multi_turn_base.json"))
    answers = {a["id"]: a for a in load(os.path.join(DATA, "possible_answer", "BFCL_v4_multi_turn_base.json"))}
    eligible = []
    for q in questions:
        turns = answers[q["id"]]["ground_truth"]
        if set(q["involved_classes"]) <= PORTED:
            eligible.append((q, turns))
    cases = []
    for q, turns in eligible[::every]:
        results = []
        for turn in turns:
            out, instances = execute_multi_turn_func_call(
                turn, q["initial_config"], q["involved_classes"], "entry", q["id"])
            results.append(out)
        cases.append({"id": q["id"], "initial_config": q["initial_config"],
                      "involved_classes": q["involved_classes"], "turns": turns, "results": results,
                      "states": {c: public_state(i) for c, i in instances.items()}})
    write("entries.json", cases)
    print("entries", len(cases), "of", len(eligible), ",", sum(len(t) for c in cases for t in c["turns"]), "calls")


def travel_token_case():
    """A travel session whose calls use the access token that
    `authenticate_travel` draws with the default seed."""
    import importlib
    from bfcl_eval.constants.executable_backend_config import CLASS_FILE_PATH_MAPPING
    probe = getattr(importlib.import_module(CLASS_FILE_PATH_MAPPING["TravelAPI"]), "TravelAPI")()
    probe._load_scenario({})
    token = probe.authenticate_travel("c", "s", "r", "read", "Ann", "Lee")["access_token"]
    card = probe.register_credit_card(token, "4111", "01/2030", "Ann Lee", 123)["card_id"]
    t = repr(token)
    calls = ["authenticate_travel(client_id='c', client_secret='s', refresh_token='r', grant_type='read', user_first_name='Ann', user_last_name='Lee')",
             f"register_credit_card(access_token={t}, card_number='4111', expiration_date='01/2030', cardholder_name='Ann Lee', card_verification_number=123)",
             f"register_credit_card(access_token={t}, card_number={card!r}, expiration_date='01/2030', cardholder_name='X', card_verification_number=1)",
             f"get_credit_card_balance(access_token={t}, card_id={card!r})", f"get_credit_card_balance(access_token={t}, card_id='nope')",
             f"book_flight(access_token={t}, card_id={card!r}, travel_date='2024-12-01', travel_from='SFO', travel_to='JFK', travel_class='economy')",
             f"book_flight(access_token={t}, card_id={card!r}, travel_date='2024-12-02', travel_from='SFO', travel_to='LAX', travel_class='business')",
             f"book_flight(access_token={t}, card_id='nope', travel_date='2024-12-02', travel_from='SFO', travel_to='LAX', travel_class='business')",
             f"book_flight(access_token={t}, card_id={card!r}, travel_date='2024-12-02', travel_from='XXX', travel_to='LAX', travel_class='business')",
             f"book_flight(access_token={t}, card_id={card!r}, travel_date='2024-12-02', travel_from='SFO', travel_to='ZZZ', travel_class='business')",
             f"book_flight(access_token={t}, card_id={card!r}, travel_date='12/02/2024', travel_from='SFO', travel_to='LAX', travel_class='business')",
             f"book_flight(access_token={t}, card_id={card!r}, travel_date='2024-12-02', travel_from='LHR', travel_to='SFO', travel_class='economy')",
             f"book_flight(access_token={t}, card_id={card!r}, travel_date='2024-12-02', travel_from='JFK', travel_to='PEK', travel_class='first')",
             f"book_flight(access_token='bad', card_id={card!r}, travel_date='2024-12-02', travel_from='SFO', travel_to='LAX', travel_class='business')",
             f"get_booking_history(access_token={t})", f"get_all_credit_cards()",
             f"set_budget_limit(access_token={t}, budget_limit=500)", f"set_budget_limit(access_token={t}, budget_limit='250.5')",
             f"purchase_insurance(access_token={t}, insurance_type='comprehensive', booking_id='1', insurance_cost=900, card_id={card!r})",
             f"purchase_insurance(access_token={t}, insurance_type='comprehensive', booking_id='1', insurance_cost=50, card_id={card!r})",
             f"contact_customer_support(booking_id='1', message='help')",
             f"retrieve_invoice(access_token={t})", f"retrieve_invoice(access_token={t}, booking_id='1')",
             f"cancel_booking(access_token={t}, booking_id='1')", f"cancel_booking(access_token='x', booking_id='1')"]
    return {}, calls


def travel_booked_case():
    """Booking-dependent calls on a real booking ID (drawn like the class does)."""
    import importlib
    from bfcl_eval.constants.executable_backend_config import CLASS_FILE_PATH_MAPPING
    klass = getattr(importlib.import_module(CLASS_FILE_PATH_MAPPING["TravelAPI"]), "TravelAPI")
    config = {"access_token": "tok", "token_expires_in": 2, "user_first_name": "A", "user_last_name": "B",
              "budget_limit": 100.0,
              "credit_card_list": {"card1": {"card_number": "1", "expiration_date": "x", "cardholder_name": "A B",
                                              "card_verification_number": 1, "balance": 5000.0}}}
    probe = klass()
    probe._load_scenario(json.loads(json.dumps(config)))
    booking = probe.book_flight("tok", "card1", "2024-10-10", "SFO", "BOS", "first")["booking_id"]
    b = repr(booking)
    calls = ["book_flight(access_token='tok', card_id='card1', travel_date='2024-10-10', travel_from='SFO', travel_to='BOS', travel_class='first')",
             f"retrieve_invoice(access_token='tok', booking_id={b})", f"contact_customer_support(booking_id={b}, message='m')",
             f"purchase_insurance(access_token='tok', insurance_type='t', booking_id={b}, insurance_cost=150.0, card_id='card1')",
             f"purchase_insurance('tok', 't', {b}, 75, 'card1')", f"purchase_insurance(access_token='tok', insurance_type='t', booking_id={b}, insurance_cost=10, card_id='card9')",
             "get_credit_card_balance(access_token='tok', card_id='card1')", f"cancel_booking(access_token='tok', booking_id={b})",
             f"cancel_booking(access_token='tok', booking_id={b})", "get_credit_card_balance(access_token='tok', card_id='card1')",
             "book_flight(access_token='tok', card_id='card1', travel_date='2024-10-11', travel_from='JFK', travel_to='PEK', travel_class='first')",
             "travel_get_login_status()"]
    return config, calls


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    random_fixture()
    # First, while TwitterAPI.post_tweet's shared `mentions=[]` default is
    # still empty (the backend fixtures below extend it on purpose).
    entry_fixture()
    backend_fixture("GorillaFileSystem", FS_ERRORS, limit=40)
    backend_fixture("MathAPI", MATH_ERRORS)
    backend_fixture("MessageAPI", MESSAGE_ERRORS)
    backend_fixture("TicketAPI", TICKET_ERRORS)
    backend_fixture("TwitterAPI", TWITTER_ERRORS)
    backend_fixture("TradingBot", TRADING_ERRORS)
    backend_fixture("VehicleControlAPI", VEHICLE_ERRORS)
    backend_fixture("TravelAPI", TRAVEL_ERRORS + [travel_token_case, travel_booked_case])
