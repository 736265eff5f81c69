"""Deterministic B2B demo data: users per role, companies, campaigns, leads, activities, histories.

`python manage.py seed_demo` calls `seed()`. The same seed and options give the same people,
emails, companies and stage paths, with every timestamp placed relative to the moment of seeding.

Trade-off: bulk rows, not services
----------------------------------
At a million leads, calling `leads.services.lead_create` and `lead_transition` per row (locks,
validation, one INSERT each) would take hours. The seeder therefore writes rows in bulk: COPY on
PostgreSQL, `executemany` in large transactions on SQLite, a batch of leads (with their companies,
activities and stage history) per transaction, so memory stays flat however many leads are asked
for. It stays faithful to what the services would have written:

- Every stage path is a walk over `leads.lifecycle.ALLOWED`: the walk table below is checked
  against it when this module is imported, and every generated move is checked again, with a
  reason wherever `lifecycle.check` would demand one (`REASON_REQUIRED`, or a person making a lead
  an MQL). Guards registered by other apps are *not* run (they may need rows the seeder does not
  write, such as a discovery call).
- The first transition is "" -> "lead" at the creation time with reason "Created", as
  `lead_create` records it; timestamps strictly increase; `Lead.stage` and `stage_changed_at`
  equal the last transition; each actor is exactly one of a user or a named rule.
- Emails are normalised (lower case) and unique; company domains are normalised; free-mail
  addresses have no company, as `lead_create` would decide.
- Scores are never written by the seeder: when a scoring model is active, each batch is scored
  by the scoring engine (the statement bulk rescoring runs), so every score comes with the
  explanation it is the sum of. The generator's own rough fit and engagement only decide when a
  lead crossed the MQL bar in its story. Stage changes the model would cause *today* are left to
  the next rescore, exactly as for imported data. (`--no-scoring` leaves them unscored, at 0.)
- Other apps add their rows (assignments, SLA clocks, discovery calls…) through a registered
  `SeedExtension`; a stage whose guard or constraint no extension satisfies (SQL and later need
  a qualifying discovery call) is never entered.

Who owns what: leads handed to sales (most MQLs, and every lead that reached `sal` or later) have
an SDR owner; leads still waiting in the MQL queue and junk caught by marketing have none.

The fast track and nurture, as the product runs them: a hand-raise (demo request, contact sales,
price quote) makes a lead an MQL within a minute, by the scoring model's rule; an MQL that is hot
(a hand-raise within the model's hot-signal window, counted since its last recycling) and not junk
(fit at the model's fast-track floor, no free-mail address) is handed off by itself within a
minute or two, when it enters the queue or when it raises its hand while waiting there (the
story's `automatic` hand-offs). Everything else waits for a marketer's review. A lead sent back
to nurture gets its cool-off (`nurture_until`, from the recycling reason's days, which extensions
name through `SeedExtension.nurture_days`) and `engagement_since`; it returns to MQL only after
the cool-off.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import time
import unicodedata
from bisect import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from crm.roles import Role, sync_roles
from leads import lifecycle
from leads.domains import FREE_MAIL_DOMAINS
from leads.lifecycle import ALLOWED, REASON_REQUIRED, SALES_QUALIFIED, Stage
from leads.models import Campaign, Channel, Company, CompanySize, Industry, Lead
from leads.services import DEFAULT_NURTURE_DAYS, phone_digits

DEMO_PASSWORD = "baton-demo"  # noqa: S105 - public demo credentials, printed and documented
DEFAULT_SEED = 20261122
DEFAULT_LEADS = 2_000
DEFAULT_ACTIVITIES_PER_LEAD = 10
DEFAULT_BATCH_SIZE = 5_000
# Scoring rewrites every lead row and its indexes: seconds for a demo, many minutes at a million
# leads, so seed_demo scores inline only up to this many unless told otherwise.
SCORE_INLINE_UP_TO = 100_000
HISTORY_DAYS = 90
SOURCE_SYSTEM = "demo"
# Leads are generated in fixed blocks (companies live within a block), so the data does not depend
# on the write batch size.
BLOCK = 1_000

# --- Demo users --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    role: Role | None  # None: the admin superuser


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("marketer", "Maya", "Patel", Role.MARKETER),
    DemoUser("liam.oconnor", "Liam", "O'Connor", Role.MARKETER),
    DemoUser("sdr", "Sam", "Rivera", Role.SDR),
    DemoUser("jordan.lee", "Jordan", "Lee", Role.SDR),
    DemoUser("aisha.khan", "Aisha", "Khan", Role.SDR),
    DemoUser("diego.morales", "Diego", "Morales", Role.SDR),
    DemoUser("manager", "Grace", "Kim", Role.MANAGER),
    DemoUser("admin", "Ada", "Admin", None),
)
DEMO_EMAIL_DOMAIN = "demo.baton.example"

# --- Name, title and company pools -----------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard "
    "Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty "
    "Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily Paul Donna Joshua "
    "Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah Timothy Stephanie Ronald "
    "Rebecca Jason Laura Edward Helen Jeffrey Sharon Ryan Cynthia Jacob Kathleen Gary Amy Nicholas "
    "Angela Eric Shirley Jonathan Anna Stephen Ruth Larry Brenda Justin Pamela Scott Nicole Brandon "
    "Katherine Benjamin Samantha Samuel Christine Gregory Emma Alexander Catherine Frank Debra "
    "Patrick Rachel Raymond Carolyn Jack Janet Dennis Maria Jerry Olivia Tyler Heather Aaron Diane "
    "Jose Julie Adam Joyce Nathan Victoria Henry Kelly Zachary Christina Douglas Lauren Peter Joan "
    "Kyle Evelyn Noah Judith Ethan Megan Jeremy Andrea Walter Cheryl Christian Hannah Keith Jacqueline "
    "Roger Martha Terry Gloria Austin Teresa Sean Ann Gerald Sara Carl Madison Harold Frances Dylan "
    "Kathryn Arthur Janice Lawrence Jean Jordan Abigail Jesse Alice Bryan Judy Billy Sophia Bruce "
    "Grace Gabriel Denise Joe Amber Logan Doris Alan Marilyn Juan Danielle Albert Beverly Willie "
    "Isabella Elijah Theresa Wayne Diana Randy Natalie Vincent Brittany Mason Charlotte Roy Marie "
    "Ralph Kayla Bobby Alexis Russell Lori Bradley Priya Wei Yuki Hiroshi Mei Arjun Ananya Rahul "
    "Fatima Omar Layla Youssef Chidi Amara Kwame Nia Sven Ingrid Lars Freya Luca Giulia Matteo "
    "Sofia Pierre Camille Hugo Chloé Léa Mathis Jürgen Anja Lukas Lena Björn Zoë Renée José Inês "
    "Thiago Beatriz Mateus Sebastián Lucía Mateo Valentina Aleksandr Olga Dmitri Katarzyna Piotr "
    "Agnieszka Siobhán Niamh Ciarán Aoife Ravi Deepa Kenji Sakura Minh Linh Jae Soo-ah Tariq Zainab"
)

LAST_NAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips "
    "Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers "
    "Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson "
    "Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders "
    "Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler "
    "Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton "
    "Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina "
    "Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington "
    "Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter "
    "Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Muñoz Hunt Hicks Holmes Palmer Wagner Black "
    "Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson "
    "Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce "
    "Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane "
    "Riley Andrews Ray Berry Perkins Hoffman Johnston Matthews Peña Richards Willis Carpenter Lawrence "
    "Sandoval O'Brien O'Neill McCarthy Byrne Müller Schneider Fischer Weber Becker Schulz Koch Wolf "
    "Dubois Lefebvre Moreau Laurent Girard Rossi Russo Ferrari Esposito Bianchi Romano Kowalski "
    "Nowak Wiśniewska Ivanova Petrov Sato Suzuki Takahashi Tanaka Watanabe Wang Li Zhang Liu Yang "
    "Huang Zhao Wu Zhou Singh Kumar Sharma Gupta Mehta Reddy Iyer Okafor Adeyemi Mensah Nkosi "
    "Haddad Khalil Nasser Andersson Johansson Karlsson Nielsen Jensen Virtanen van-Dijk de-Vries "
    "Jansen Bakker Visser Smit Meijer Costa Oliveira Pereira Almeida Ferreira Ribeiro Carvalho"
)

# (title, seniority) — the scoring engine's seniority keywords classify these as labelled.
JOB_TITLES: dict[str, tuple[str, ...]] = {
    "c_level": (
        "Chief Executive Officer",
        "CEO",
        "Co-Founder & CEO",
        "Chief Marketing Officer",
        "CMO",
        "Chief Revenue Officer",
        "Chief Technology Officer",
        "CTO",
        "Chief Financial Officer",
        "Chief Operating Officer",
        "Chief Information Officer",
        "Founder",
    ),
    "vp": (
        "VP Marketing",
        "VP of Sales",
        "VP Revenue Operations",
        "VP Demand Generation",
        "VP Engineering",
        "Vice President, Growth",
        "SVP Sales",
        "VP Customer Success",
        "VP Finance",
    ),
    "director": (
        "Director of Marketing",
        "Director of Demand Generation",
        "Director of Sales Operations",
        "Director of Revenue Operations",
        "Head of Growth",
        "Head of Sales Development",
        "Director of IT",
        "Head of Marketing Operations",
        "Director of Product Marketing",
        "Head of Data",
        "Director of Customer Experience",
    ),
    "manager": (
        "Marketing Manager",
        "Marketing Operations Manager",
        "Demand Generation Manager",
        "Sales Manager",
        "Sales Operations Manager",
        "Product Marketing Manager",
        "IT Manager",
        "CRM Manager",
        "Revenue Operations Manager",
        "Content Marketing Manager",
        "Team Lead, Inside Sales",
        "Growth Marketing Manager",
    ),
    "individual": (
        "Marketing Specialist",
        "Marketing Operations Specialist",
        "Sales Development Representative",
        "Account Executive",
        "Data Analyst",
        "Business Analyst",
        "Software Engineer",
        "Content Strategist",
        "Growth Marketer",
        "Salesforce Administrator",
        "Marketing Coordinator",
        "Solutions Engineer",
        "Customer Success Specialist",
        "",
    ),
    "student": ("Student", "MBA Student", "Marketing Intern", "Graduate Student", "PhD Candidate"),
}
SENIORITY_WEIGHTS = {"c_level": 6, "vp": 9, "director": 17, "manager": 27, "individual": 37, "student": 4}
SENIORITY_FIT = {"c_level": 25, "vp": 25, "director": 18, "manager": 10, "individual": 0, "student": -30}

COMPANY_ROOTS = _words(
    "north south east west blue red green silver iron gold cedar oak pine maple birch aspen willow "
    "river lake harbor bay ocean coral summit peak ridge stone rock granite marble crystal bright "
    "clear swift rapid true prime apex vertex zenith nova stellar lunar solar orbit atlas titan "
    "falcon eagle hawk raven fox wolf bear lynx otter heron crane sparrow bison elk tiger lion "
    "alpine arctic polar tundra prairie meadow canyon mesa delta sierra cascade glacier harvest "
    "amber indigo violet scarlet crimson cobalt ivory onyx jade ruby sapphire copper bronze "
    "quantum vector matrix pixel signal beacon compass anchor arrow bridge gate tower castle "
    "forge mill works yard field grove garden orchard vine root seed sprout bloom ember spark flame "
    "cloud storm thunder rain snow frost mist wind breeze tide wave current stream spring well "
    "bold brave keen wise fair kind noble grand royal civic urban metro"
)
COMPANY_ENDINGS = _words(
    "point line scale stack base path way works labs hub loop gate field view mark wise ly ify io "
    "sys tek tech soft ware net data logic mind sense flow wave shift lane craft forge nest port "
    "bay dock grid core cast star light sight bit byte cube dash deck desk hive kit leaf link "
    "map mesh peak pod rise root scope seed span spark sphere spring sprint stone stream trail "
    "verse vista wing yard zone ai ops run rock ridge"
)
COMPANY_SUFFIXES: dict[str, tuple[str, ...]] = {
    Industry.SOFTWARE: ("Software", "Labs", "Cloud", "Systems", "Technologies", "AI"),
    Industry.FINANCIAL_SERVICES: ("Capital", "Financial", "Bank", "Payments", "Insurance", "Partners"),
    Industry.HEALTHCARE: ("Health", "Medical", "Care", "Clinics", "Therapeutics", "Diagnostics"),
    Industry.MANUFACTURING: ("Manufacturing", "Industries", "Components", "Robotics", "Materials"),
    Industry.RETAIL: ("Retail", "Goods", "Outfitters", "Market", "Commerce", "Brands"),
    Industry.EDUCATION: ("Learning", "Academy", "Education", "Institute"),
    Industry.GOVERNMENT: ("Agency", "Authority", "Council"),
    Industry.MEDIA: ("Media", "Studios", "Publishing", "Entertainment", "Digital"),
    Industry.PROFESSIONAL_SERVICES: ("Consulting", "Advisors", "Group", "Associates", "Legal"),
    Industry.TELECOM: ("Telecom", "Networks", "Communications", "Mobile", "Wireless"),
    Industry.LOGISTICS: ("Logistics", "Freight", "Shipping", "Transport", "Supply"),
    Industry.NONPROFIT: ("Foundation", "Alliance", "Trust"),
    Industry.OTHER: ("Co", "Holdings", "Ventures", "Company", "International"),
}
INDUSTRY_WEIGHTS = {
    Industry.SOFTWARE: 26,
    Industry.FINANCIAL_SERVICES: 12,
    Industry.HEALTHCARE: 10,
    Industry.MANUFACTURING: 9,
    Industry.RETAIL: 8,
    Industry.EDUCATION: 4,
    Industry.GOVERNMENT: 2,
    Industry.MEDIA: 6,
    Industry.PROFESSIONAL_SERVICES: 10,
    Industry.TELECOM: 4,
    Industry.LOGISTICS: 5,
    Industry.NONPROFIT: 2,
    Industry.OTHER: 2,
}
TARGET_INDUSTRIES = {Industry.SOFTWARE, Industry.FINANCIAL_SERVICES, Industry.HEALTHCARE, Industry.TELECOM}
# country: (weight, top-level domains, phone prefix)
COUNTRIES: dict[str, tuple[int, tuple[str, ...], str]] = {
    "US": (44, ("com", "com", "com", "io", "ai", "co", "net"), "+1 415 555 01"),
    "GB": (11, ("co.uk", "com", "io"), "+44 20 7946 09"),
    "DE": (8, ("de", "com", "io"), "+49 30 901820"),
    "CA": (6, ("ca", "com"), "+1 604 555 01"),
    "FR": (5, ("fr", "com"), "+33 1 99 00 12 "),
    "NL": (4, ("nl", "com", "io"), "+31 20 555 01"),
    "AU": (4, ("com.au", "com"), "+61 2 5550 01"),
    "ES": (3, ("es", "com"), "+34 91 555 01"),
    "IN": (3, ("in", "com", "io"), "+91 80 5555 01"),
    "SE": (2, ("se", "com"), "+46 8 555 010"),
    "IE": (2, ("ie", "com"), "+353 1 555 01"),
    "IT": (2, ("it", "com"), "+39 02 555 01"),
    "BR": (2, ("com.br", "com"), "+55 11 5555 01"),
    "DK": (1, ("dk", "com"), "+45 55 55 01"),
    "SG": (1, ("sg", "com"), "+65 6555 01"),
    "JP": (1, ("jp", "com"), "+81 3 5555 01"),
    "CH": (1, ("ch", "com"), "+41 44 555 01"),
}
CORE_TERRITORY = {"US", "CA", "GB", "IE", "DE", "FR", "NL", "SE", "DK", "AU"}

# Shared domains: their leads' addresses carry a number, since many people share each domain.
UNIVERSITIES = (
    ("Northfield University", "northfield.edu", "US"),
    ("Lakeshore State University", "lakeshore-state.edu", "US"),
    ("Riverbend College", "riverbend.edu", "US"),
    ("University of Eastmoor", "eastmoor.ac.uk", "GB"),
    ("Kingsbridge University", "kingsbridge.ac.uk", "GB"),
    ("Harbourview University", "harbourview.edu.au", "AU"),
)
COMPETITORS = (
    ("RelayCRM", "relaycrm.com", "US"),
    ("FunnelForce", "funnelforce.io", "US"),
    ("Leadlytics", "leadlytics.com", "GB"),
)
FREE_MAIL = (
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "hotmail.com",
    "icloud.com",
    "proton.me",
)
BAD_DATA_NAMES = (
    ("Test", "Test"),
    ("Asdf", "Asdf"),
    ("Mickey", "Mouse"),
    ("John", "Doe"),
    ("", "X"),
    ("Na", "Na"),
)

# --- Campaigns -------------------------------------------------------------------------------

# slug, name, channel, starts (days ago), runs (days)
CAMPAIGNS: tuple[tuple[str, str, str, int, int], ...] = (
    ("gads-brand", "Google Ads — Brand", Channel.PAID_SEARCH, 120, 150),
    ("gads-lead-routing", "Google Ads — Lead routing (non-brand)", Channel.PAID_SEARCH, 100, 150),
    ("gads-lead-scoring", "Google Ads — Lead scoring software", Channel.PAID_SEARCH, 80, 150),
    ("bing-sales-handoff", "Bing Ads — Sales handoff", Channel.PAID_SEARCH, 60, 120),
    ("li-revops-leaders", "LinkedIn — RevOps leaders", Channel.PAID_SOCIAL, 95, 90),
    ("li-cmo-persona", "LinkedIn — CMO persona", Channel.PAID_SOCIAL, 70, 90),
    ("meta-retargeting", "Meta — Website retargeting", Channel.PAID_SOCIAL, 50, 90),
    ("webinar-mql-to-sql", "Webinar: From MQL to SQL in 48 hours", Channel.WEBINAR, 88, 10),
    ("webinar-scoring-101", "Webinar: Lead scoring 101", Channel.WEBINAR, 60, 10),
    ("webinar-sla-playbook", "Webinar: The sales SLA playbook", Channel.WEBINAR, 35, 10),
    ("webinar-revops-2027", "Webinar: RevOps trends for 2027", Channel.WEBINAR, 12, 20),
    (
        "synd-techtarget-buyers-guide",
        "TechTarget — Lead management buyer's guide",
        Channel.CONTENT_SYNDICATION,
        90,
        60,
    ),
    ("synd-g2-report", "G2 Grid report syndication", Channel.CONTENT_SYNDICATION, 65, 60),
    ("synd-netline-ebook", "NetLine — Handoff ebook", Channel.CONTENT_SYNDICATION, 40, 60),
    ("event-saastr-2026", "SaaStr Annual 2026 — booth", Channel.EVENT, 85, 3),
    ("event-revops-summit", "RevOps Summit London", Channel.EVENT, 55, 2),
    ("event-dreamforce-dinner", "Customer dinner at Dreamforce", Channel.EVENT, 40, 1),
    ("event-berlin-meetup", "Berlin B2B marketing meetup", Channel.EVENT, 20, 1),
    ("newsletter-monthly", "Monthly newsletter", Channel.EMAIL, 120, 365),
    ("nurture-mql-recycled", "Nurture — recycled leads", Channel.EMAIL, 90, 365),
    ("partner-northwind-consulting", "Partner — Northwind Consulting referrals", Channel.PARTNER, 110, 365),
    ("partner-salesforce-appexchange", "Salesforce AppExchange listing", Channel.PARTNER, 110, 365),
    ("outbound-enterprise-q4", "Outbound — enterprise accounts Q4", Channel.OUTBOUND, 45, 90),
)
CHANNEL_WEIGHTS: dict[str, int] = {
    Channel.ORGANIC_SEARCH: 16,
    Channel.PAID_SEARCH: 14,
    Channel.PAID_SOCIAL: 9,
    Channel.ORGANIC_SOCIAL: 4,
    Channel.EMAIL: 5,
    Channel.REFERRAL: 5,
    Channel.EVENT: 8,
    Channel.WEBINAR: 12,
    Channel.CONTENT_SYNDICATION: 10,
    Channel.PARTNER: 4,
    Channel.DIRECT: 6,
    Channel.OUTBOUND: 5,
    Channel.OTHER: 2,
}
SOURCE_DETAILS: dict[str, tuple[str, ...]] = {
    Channel.ORGANIC_SEARCH: (
        "google / organic",
        "google / organic",
        "bing / organic",
        "duckduckgo / organic",
    ),
    Channel.PAID_SEARCH: ("google / cpc", "google / cpc", "bing / cpc"),
    Channel.PAID_SOCIAL: ("linkedin / paid_social", "facebook / paid_social"),
    Channel.ORGANIC_SOCIAL: ("linkedin / social", "twitter / social", "youtube / social"),
    Channel.EMAIL: ("newsletter / email", "nurture / email"),
    Channel.REFERRAL: ("g2.com / referral", "capterra.com / referral", "customer referral"),
    Channel.EVENT: ("badge scan", "booth conversation"),
    Channel.WEBINAR: ("webinar registration",),
    Channel.CONTENT_SYNDICATION: ("syndication partner",),
    Channel.PARTNER: ("partner referral",),
    Channel.DIRECT: ("direct",),
    Channel.OUTBOUND: ("sdr prospecting",),
    Channel.OTHER: ("",),
}
# How a lead first arrives: (creating activity type, who creates the lead).
CREATED_BY: dict[str, tuple[str, str]] = {
    Channel.ORGANIC_SEARCH: ("form_submit", "Web form"),
    Channel.PAID_SEARCH: ("form_submit", "Web form"),
    Channel.PAID_SOCIAL: ("content_download", "LinkedIn lead gen form sync"),
    Channel.ORGANIC_SOCIAL: ("form_submit", "Web form"),
    Channel.EMAIL: ("email_click", "Web form"),
    Channel.REFERRAL: ("form_submit", "Web form"),
    Channel.EVENT: ("event_attended", "@marketer"),  # a marketer imports the badge scans
    Channel.WEBINAR: ("webinar_registered", "Webinar platform sync"),
    Channel.CONTENT_SYNDICATION: ("content_download", "Content syndication import"),
    Channel.PARTNER: ("form_submit", "Partner referral form"),
    Channel.DIRECT: ("form_submit", "Web form"),
    Channel.OUTBOUND: ("sales_email", "@sdr"),  # an SDR adds the prospect
    Channel.OTHER: ("form_submit", "API"),
}

# --- Activities ------------------------------------------------------------------------------

TOPICS = (
    "lead scoring",
    "sales handoff",
    "SLA management",
    "revenue operations",
    "marketing attribution",
    "pipeline forecasting",
    "lead routing",
    "account-based marketing",
    "CRM data quality",
)
ASSETS = (
    "The lead handoff playbook",
    "2026 State of RevOps report",
    "Lead scoring template",
    "SLA calculator",
    "Buyer's guide to lead management",
    "MQL definition worksheet",
)
PAGES = (
    "/",
    "/product",
    "/product/routing",
    "/product/scoring",
    "/product/sla",
    "/customers",
    "/integrations/salesforce",
    "/integrations/hubspot",
    "/blog/what-is-an-mql",
    "/blog/speed-to-lead",
    "/blog/bant-is-not-dead",
    "/security",
    "/about",
)
FORMS = ("Newsletter signup", "Ebook download", "Contact us", "Free assessment", "ROI calculator")
EMAILS = ("October newsletter", "November newsletter", "Webinar invite", "Case study: Acme", "Product update")
CALL_OUTCOMES = ("Connected", "Left voicemail", "No answer", "Connected", "Booked a meeting")
EMAIL_SUBJECTS = (
    "Following up on your demo request",
    "Quick question",
    "Resources you asked for",
    "Checking in",
)

# Marketing mixes by intent: (type code, weight).
INTENT_MIXES: tuple[tuple[tuple[str, float], ...], ...] = (
    (  # low
        ("page_view", 40),
        ("email_open", 26),
        ("email_click", 6),
        ("content_download", 6),
        ("webinar_registered", 3),
        ("careers_page_view", 3),
        ("unsubscribe", 2),
        ("form_submit", 3),
        ("pricing_page_view", 2),
        ("webinar_attended", 1),
    ),
    (  # medium
        ("page_view", 30),
        ("email_open", 15),
        ("email_click", 10),
        ("content_download", 12),
        ("pricing_page_view", 8),
        ("webinar_registered", 6),
        ("webinar_attended", 6),
        ("form_submit", 5),
        ("event_attended", 2),
        ("free_trial", 1),
        ("careers_page_view", 1),
        ("unsubscribe", 0.5),
    ),
    (  # high
        ("page_view", 25),
        ("pricing_page_view", 14),
        ("content_download", 12),
        ("email_click", 10),
        ("email_open", 8),
        ("webinar_attended", 8),
        ("webinar_registered", 5),
        ("form_submit", 5),
        ("free_trial", 4),
        ("demo_request", 1.6),
        ("contact_sales", 1.0),
        ("price_quote", 0.5),
    ),
)
INTENT_WEIGHTS = (55, 30, 15)
# Engagement points and caps, close to the baseline scoring model; used to decide when a lead
# crossed the MQL bar. The engine recomputes the stored scores when a model is active.
ENGAGEMENT_POINTS: dict[str, tuple[int, int]] = {
    "page_view": (1, 15),
    "pricing_page_view": (8, 24),
    "content_download": (8, 32),
    "webinar_registered": (5, 10),
    "webinar_attended": (12, 24),
    "event_attended": (10, 20),
    "email_open": (1, 5),
    "email_click": (3, 15),
    "form_submit": (5, 15),
    "free_trial": (25, 25),
    "demo_request": (40, 40),
    "contact_sales": (40, 40),
    "price_quote": (30, 30),
    "careers_page_view": (-5, 15),
    "unsubscribe": (-25, 25),
}
HOT_SIGNALS = frozenset({"demo_request", "contact_sales", "price_quote"})
# The activity types' names, as the fast track's promotion reason names the signal.
HOT_SIGNAL_NAMES = {
    "demo_request": "Demo request",
    "contact_sales": "Contact sales",
    "price_quote": "Price quote request",
}
MQL_FIT, MQL_ENGAGEMENT = 30, 40

# --- Stage walk ------------------------------------------------------------------------------

HOUR, DAY = 3_600, 86_400
_L, _M, _SAL, _SQL, _OPP, _CUS, _REC, _DQ = (
    Stage.LEAD,
    Stage.MQL,
    Stage.SAL,
    Stage.SQL,
    Stage.OPPORTUNITY,
    Stage.CUSTOMER,
    Stage.RECYCLED,
    Stage.DISQUALIFIED,
)
# What happens next at each stage: (next stage or None to stay, weight), by situation.
WALK: dict[tuple[Stage, str], tuple[tuple[Stage | None, int], ...]] = {
    (_M, "owned"): ((_SAL, 64), (_SQL, 4), (_REC, 14), (_DQ, 8), (None, 10)),
    (_M, "queue"): ((_REC, 30), (_DQ, 12), (None, 58)),
    (_SAL, ""): ((_SQL, 45), (_REC, 25), (_DQ, 10), (None, 20)),
    (_SQL, ""): ((_OPP, 75), (_REC, 8), (_DQ, 5), (None, 12)),
    (_OPP, ""): ((_CUS, 35), (_REC, 20), (_DQ, 10), (None, 35)),
    (_REC, ""): ((_M, 40), (_DQ, 6), (None, 54)),
    (_DQ, ""): ((_REC, 3), (None, 97)),
}
# How long a stage lasts before its next move: (shortest, longest) seconds, log-uniform.
DWELL: dict[Stage, tuple[int, int]] = {
    _M: (20 * 60, 3 * DAY),
    _SAL: (DAY, 12 * DAY),
    _SQL: (DAY, 8 * DAY),
    _OPP: (7 * DAY, 45 * DAY),
    _REC: (6 * DAY, 30 * DAY),
    _DQ: (5 * DAY, 30 * DAY),
}
RECYCLE_REASONS = (
    "No response after 6 touches",
    "Not ready to buy — revisit next quarter",
    "Timing: budget cycle starts in Q3",
    "Went dark after the first call",
    "Renewed with the incumbent for a year",
    "Project on hold",
)
QUEUE_RECYCLE_REASONS = (
    "Not sales-ready — back to nurture",
    "Early research only; nurture",
    "Engagement was one webinar; nurture",
)
UNDO_DISQUALIFY_REASON = "Disqualified by mistake — back to nurture"
# Every reason a move into recycled is written with: each has its cool-off (World.nurture_days).
NURTURE_REASONS = (*RECYCLE_REASONS, *QUEUE_RECYCLE_REASONS, UNDO_DISQUALIFY_REASON)
DISQUALIFY_REASONS = (
    "No budget",
    "No budget",
    "Not a decision maker",
    "Outside our territory",
    "Too small: under 10 employees",
    "Chose a competitor",
    "Bad data",
)
MANUAL_MQL_REASONS = (
    "Met at our booth; asked about pricing",
    "Asked for a call on the phone",
    "Target account (ABM list)",
    "Replied to a nurture email asking for a demo",
)


def _validate_walk() -> None:
    """The walk may only take moves the lifecycle allows; refuse to load otherwise."""
    for (stage, _situation), moves in WALK.items():
        for target, _weight in moves:
            if target is not None and target not in ALLOWED[stage]:
                raise RuntimeError(f"demo walk moves {stage} -> {target}, which leads.lifecycle forbids")
    for stage in (_L, _M, _SAL, _SQL, _OPP, _REC, _DQ):
        if (stage, "") not in WALK and (stage, "owned") not in WALK and stage != _L:
            raise RuntimeError(f"demo walk has no moves from {stage}")


_validate_walk()

# --- Helpers ---------------------------------------------------------------------------------


def ascii_slug(value: str) -> str:
    """`Zoë O'Brien` -> `zoeobrien`: the ASCII letters an email local part is built from."""
    value = value.replace("ß", "ss").replace("ø", "o").replace("Ø", "O").replace("ł", "l")
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(ch for ch in decomposed.lower() if ch.isascii() and (ch.isalnum() or ch == "-"))


def _display(name: str) -> str:
    return name.replace("-", " ") if name[:3] in {"van", "de-"} else name


def _cumulative(weights: Iterable[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _json(value: dict[str, Any]) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if any(ch in text for ch in "\\\t\n\r"):
        raise ValueError(f"demo JSON must not need COPY escaping: {text!r}")
    return text


@dataclass
class Rows:
    """One batch of rows, ready to write. Timestamps are integer UTC epoch seconds."""

    companies: list[tuple] = field(default_factory=list)
    leads: list[tuple] = field(default_factory=list)
    activities: list[tuple] = field(default_factory=list)
    transitions: list[tuple] = field(default_factory=list)

    def extend(self, other: Rows) -> None:
        self.companies += other.companies
        self.leads += other.leads
        self.activities += other.activities
        self.transitions += other.transitions


# The qualifying discovery call a lead at SQL or later must name (written by an extension).
HAS_QUALIFYING_CALL = any(f.attname == "qualifying_call_id" for f in Lead._meta.concrete_fields)
_NO_CALL: tuple[None, ...] = (None,) if HAS_QUALIFYING_CALL else ()
COMPANY_COLUMNS = ("id", "name", "domain", "industry", "size", "country", "created_at")
LEAD_COLUMNS = (
    "id",
    "email",
    "first_name",
    "last_name",
    "job_title",
    "phone",
    "phone_digits",
    "company_id",
    "source_channel",
    "source_detail",
    "campaign_id",
    "owner_id",
    "stage",
    *(("qualifying_call_id",) if HAS_QUALIFYING_CALL else ()),
    "nurture_until",
    "engagement_since",
    "stage_changed_at",
    "created_at",
    "updated_at",
)
ACTIVITY_COLUMNS = (
    "lead_id",
    "type_code",
    "occurred_at",
    "properties",
    "source_system",
    "external_id",
    "created_at",
)
TRANSITION_COLUMNS = ("lead_id", "from_stage", "to_stage", "at", "actor_user_id", "actor_rule", "reason")
_TIMESTAMPS = {"created_at", "updated_at", "stage_changed_at", "occurred_at", "at", "nurture_until", "engagement_since"}
# Positions of the timestamp columns, for the writers.
TIMESTAMP_COLUMNS = {
    table: tuple(i for i, column in enumerate(columns) if column in _TIMESTAMPS)
    for table, columns in (
        ("leads_company", COMPANY_COLUMNS),
        ("leads_lead", LEAD_COLUMNS),
        ("leads_activity", ACTIVITY_COLUMNS),
        ("leads_stagetransition", TRANSITION_COLUMNS),
    )
}
LEAD_COMPANY = LEAD_COLUMNS.index("company_id")


@dataclass(frozen=True)
class SharedCompany:
    id: int
    domain: str
    country: str


@dataclass(frozen=True)
class World:
    """Everything the generator needs from the database, as plain values."""

    now: int  # epoch seconds
    marketers: tuple[int, ...]
    sdrs: tuple[int, ...]
    campaigns: dict[str, tuple[tuple[int, str], ...]]  # channel -> ((id, name), ...)
    universities: tuple[SharedCompany, ...]
    competitors: tuple[SharedCompany, ...]
    mql_rule: str = "MQL threshold"
    sdr_usernames: dict[int, str] = field(default_factory=dict)
    # The active scoring model's fast track: how recent a hand-raise makes a lead hot (seconds),
    # and the fit below which a hot lead is held for review instead.
    hot_window: int = 14 * DAY
    fast_track_min_fit: int = 10
    # Cool-off days of a lead sent back to nurture, by the reason text the move is written with
    # (from the extensions; DEFAULT_NURTURE_DAYS for a reason none of them names).
    nurture_days: dict[str, int] = field(default_factory=dict)


def _hot(signals: Sequence[int], since: int, at: int, window: int) -> bool:
    """Whether a lead with hand-raises at `signals` is hot at `at`: one within `window` seconds
    before, and after `since` (its last recycling; 0: never), as the scoring engine counts them."""
    low = max(at - window, since)
    return any(low < signal <= at for signal in signals)


# --- Extensions: other apps add their rows ----------------------------------------------------


@dataclass
class LeadStory:
    """What happened to one generated lead, for extensions to derive their own rows from.

    Timestamps are UTC epoch seconds. `transitions` are the stage-history rows as written:
    (lead_id, from_stage, to_stage, at, actor_user_id, actor_rule, reason). `handoffs` are
    (at, rep id) each time the lead was handed to sales, `automatic` the times of those that
    the fast track made by itself (the others a marketer made from the queue); `touches` are
    (at, activity type code) of the sales touches logged by the owner; `hot_signals` the times of
    the lead's hand-raises (demo request, contact sales, price quote).
    """

    lead_id: int
    email: str
    company_id: int | None
    owner_id: int | None
    created_at: int
    fit: int
    engagement: int
    hot_at: int | None
    handoffs: list[tuple[int, int]]
    transitions: list[tuple]
    touches: list[tuple[int, str]]
    hot_signals: list[int] = field(default_factory=list)
    automatic: list[int] = field(default_factory=list)

    def is_hot(self, at: int, window: int) -> bool:
        """Whether the lead was hot at `at` (a hand-raise within `window` seconds before, since
        its last recycling): what routing to the hot rule and the hot SLA policy go by."""
        since = max((t[3] for t in self.transitions if t[2] == Stage.RECYCLED and t[3] < at), default=0)
        return _hot(self.hot_signals, since, at, window)


@dataclass
class SeedBatch:
    """One transaction's worth of generated leads, handed to each extension before the leads are
    written (foreign keys are checked at commit, so rows pointing at these leads may go first).
    An extension that writes the qualifying discovery call of a lead at SQL or later puts its id
    in `qualifying_calls`; the lead row is written with it."""

    stories: list[LeadStory]
    now: int
    qualifying_calls: dict[int, int] = field(default_factory=dict)


class SeedExtension:
    """Adds another app's demo rows (assignments, SLA clocks, discovery calls…) to seed_demo.

    `leads` cannot import the apps that build on it, so they register an extension (in their
    AppConfig.ready) the way they register lifecycle guards. `covers` names the stages whose
    guards and constraints the extension satisfies (e.g. SQL, by writing a qualified discovery
    call): without one, the seeder never moves a lead into a guarded stage.
    """

    name = "extension"
    covers: frozenset[Stage] = frozenset()

    def nurture_days(self, reasons: Sequence[str]) -> dict[str, int]:
        """The cool-off, in days, of a lead sent back to nurture with each of these reason texts,
        for those this extension knows (asked before `prepare`, when the world is built)."""
        return {}

    def prepare(self, world: World) -> None:
        """Create reference data once per run (teams, policies, reasons), idempotently."""

    def write(self, batch: SeedBatch, writer: Writer) -> None:
        """Write this batch's rows with `writer`, inside the batch transaction."""

    def finish(self) -> None:
        """After the last batch is committed: derive whatever is built from all the rows at once."""


_extensions: list[SeedExtension] = []


def register_extension(extension: SeedExtension) -> SeedExtension:
    if extension not in _extensions:
        _extensions.append(extension)
    return extension


def unregister_extension(extension: SeedExtension) -> None:
    if extension in _extensions:
        _extensions.remove(extension)


def blocked_stages(extensions: Iterable[SeedExtension]) -> frozenset[Stage]:
    """Stages the seeder must not move leads into: they have guards (or, for SQL and later, the
    qualifying-call constraint) that no extension satisfies."""
    covered = frozenset().union(*(extension.covers for extension in extensions))
    guarded = {stage for stage in Stage if lifecycle.guards_for(stage)}
    if HAS_QUALIFYING_CALL:
        guarded |= SALES_QUALIFIED
    return frozenset(guarded - covered)


# --- The generator ---------------------------------------------------------------------------


class Generator:
    """Turns (seed, lead index) into rows. Pure Python: no database access.

    `block(first_index, count, lead_ids, company_ids)` makes the rows of leads
    first_index .. first_index + count - 1 (indexes are global, so appended data never repeats an
    email or a domain). Company ids are handed out from `company_ids` as companies are used.
    """

    def __init__(self, *, seed: int, world: World, total: int, activities_per_lead: int) -> None:
        self.seed = seed
        self.world = world
        self.total = max(total, 1)
        self.activities_per_lead = activities_per_lead
        self.stats: Counter[str] = Counter()
        self.companies_made = 0
        self.index_base = 0
        self.blocked: frozenset[Stage] = frozenset()
        self.stories: list[LeadStory] | None = None  # collected only when extensions need them
        self._zone = timezone.get_current_timezone()  # reasons name times as the services do

        self._channels = list(CHANNEL_WEIGHTS)
        self._channel_cum = _cumulative(CHANNEL_WEIGHTS.values())
        self._seniorities = list(SENIORITY_WEIGHTS)
        self._seniority_cum = _cumulative(SENIORITY_WEIGHTS.values())
        self._industries = list(INDUSTRY_WEIGHTS)
        self._industry_cum = _cumulative(INDUSTRY_WEIGHTS.values())
        self._countries = list(COUNTRIES)
        self._country_cum = _cumulative(weight for weight, _, _ in COUNTRIES.values())
        self._mix_codes = [[code for code, _ in mix] for mix in INTENT_MIXES]
        self._mix_cum = [_cumulative(weight for _, weight in mix) for mix in INTENT_MIXES]
        self._intent_cum = _cumulative(INTENT_WEIGHTS)
        # Activity counts: a long-tailed spread around the requested average.
        spread = (0.15, 0.3, 0.45, 0.6, 0.7, 0.8, 0.9, 1.0, 1.0, 1.1, 1.25, 1.4, 1.6, 1.9, 2.4, 3.2)
        mean = sum(spread) / len(spread)
        self._activity_factors = [activities_per_lead * f / mean for f in spread]

        # Distinct first names make addresses unique within a company, so "José" and "Jose"
        # (the same in an address) count once.
        self._first = list({ascii_slug(name): (name, ascii_slug(name)) for name in FIRST_NAMES}.values())
        self._last = [(_display(name), ascii_slug(name).replace("-", "")) for name in LAST_NAMES]
        self._words = [root + ending for root in COMPANY_ROOTS for ending in COMPANY_ENDINGS]
        self._word_step = _coprime_step(len(self._words))
        self._first_step = _coprime_step(len(self._first))

        # Activity properties, serialised once.
        self._props: dict[str, list[str]] = {
            "page_view": [_json({"url": page}) for page in PAGES],
            "pricing_page_view": [
                _json({"url": "/pricing"}),
                _json({"url": "/pricing", "plan": "Enterprise"}),
            ],
            "careers_page_view": [_json({"url": "/careers"}), _json({"url": "/careers/sdr"})],
            "content_download": [_json({"topic": topic, "asset": asset}) for topic in TOPICS for asset in ASSETS[:3]],
            "webinar_registered": [],
            "webinar_attended": [],
            "event_attended": [],
            "email_open": [_json({"email": name}) for name in EMAILS],
            "email_click": [_json({"email": name, "url": page}) for name in EMAILS for page in PAGES[:4]],
            "form_submit": [_json({"form": name}) for name in FORMS],
            "free_trial": [_json({"plan": "Trial"})],
            "demo_request": [_json({"form": "Book a demo"})],
            "contact_sales": [_json({"form": "Talk to sales"})],
            "price_quote": [_json({"form": "Request a quote", "seats": seats}) for seats in (10, 25, 50, 200)],
            "unsubscribe": [_json({})],
        }
        for channel_campaigns in world.campaigns.values():
            for _id, name in channel_campaigns:
                if name.startswith("Webinar: "):
                    self._props["webinar_registered"].append(_json({"webinar": name[9:]}))
                    self._props["webinar_attended"].append(_json({"webinar": name[9:]}))
        for _id, name in world.campaigns.get(Channel.EVENT, ()):
            self._props["event_attended"].append(_json({"event": name}))
        for code in ("webinar_registered", "webinar_attended"):
            self._props[code] = self._props[code] or [_json({"webinar": "Product tour"})]
        self._props["event_attended"] = self._props["event_attended"] or [_json({"event": "Trade show"})]
        self._touch_props: dict[int, dict[str, list[str]]] = {
            sdr: {
                "sales_call": [_json({"rep": user, "outcome": outcome}) for outcome in CALL_OUTCOMES],
                "sales_email": [_json({"rep": user, "subject": subject}) for subject in EMAIL_SUBJECTS],
                "sales_meeting": [_json({"rep": user, "kind": "Discovery call"})],
            }
            for sdr, user in ((sdr, world.sdr_usernames.get(sdr, "sdr")) for sdr in world.sdrs)
        }
        self._campaign_props: dict[int, str] = {}
        for channel, channel_campaigns in world.campaigns.items():
            for campaign_id, name in channel_campaigns:
                if channel == Channel.WEBINAR:
                    self._campaign_props[campaign_id] = _json({"webinar": name.removeprefix("Webinar: ")})
                elif channel == Channel.EVENT:
                    self._campaign_props[campaign_id] = _json({"event": name})
                elif channel in {Channel.CONTENT_SYNDICATION, Channel.PAID_SOCIAL}:
                    self._campaign_props[campaign_id] = _json(
                        {
                            "topic": TOPICS[campaign_id % len(TOPICS)],
                            "asset": ASSETS[campaign_id % len(ASSETS)],
                        }
                    )
                elif channel == Channel.EMAIL:
                    self._campaign_props[campaign_id] = _json({"email": name, "url": "/product"})
                else:
                    self._campaign_props[campaign_id] = _json({"form": "Contact us", "campaign": name})
        # Zipf-like company popularity within a block: a few big accounts, a long tail.
        self._company_slots = int(BLOCK * 0.22)
        self._company_cum = _cumulative(1 / (rank + 1) ** 1.05 for rank in range(self._company_slots))

    # -- blocks -------------------------------------------------------------------------------

    def block(self, first_index: int, count: int, lead_ids: Sequence[int], company_ids: Iterable[int]) -> Rows:
        rng = random.Random(self.seed * 1_000_033 + first_index)
        lead_rng = random.Random()
        rows = Rows()
        company_id_iter = iter(company_ids)
        # slot -> [id, name, domain, industry, size, country, created, people so far, k]
        companies: dict[int, list[Any]] = {}
        slots = rng.choices(range(self._company_slots), cum_weights=self._company_cum, k=count)
        for offset in range(count):
            index = first_index + offset
            # Each lead draws from its own stream, so one lead's path never shifts another's data.
            lead_rng.seed(self.seed * 1_000_003 + index)
            self._lead(lead_rng, index, lead_ids[offset], slots[offset], companies, company_id_iter, rows)
        for company in companies.values():
            rows.companies.append(tuple(company[:7]))
        return rows

    def reserve_companies(self, count: int) -> int:
        """How many company ids a block of `count` leads may need at most."""
        return min(count, self._company_slots)

    def _company(self, rng: random.Random, slot: int, company_id: int, created: int) -> list[Any]:
        k = self.companies_made
        self.companies_made += 1
        word_index = (k * self._word_step) % len(self._words)
        word = self._words[word_index]
        cycle = k // len(self._words)
        industry = self._industries[bisect(self._industry_cum, rng.random() * self._industry_cum[-1])]
        suffixes = COMPANY_SUFFIXES[industry]
        suffix = suffixes[(k + cycle) % len(suffixes)]
        country = self._countries[bisect(self._country_cum, rng.random() * self._country_cum[-1])]
        tlds = COUNTRIES[country][1]
        tld = tlds[k % len(tlds)]
        # Unique by construction: the word (and, after every word is used, the cycle number) is
        # distinct for every k; the suffix is only decoration.
        domain_word = word if cycle == 0 else f"{word}{suffix.lower()}{cycle if cycle > 1 else ''}"
        domain = f"{domain_word}.{tld}"
        # Popular slots are bigger companies.
        if slot < 3:
            size = CompanySize.S_5000_PLUS if rng.random() < 0.6 else CompanySize.S_1001_5000
        elif slot < 25:
            size = rng.choice((CompanySize.S_1001_5000, CompanySize.S_201_1000, CompanySize.S_201_1000))
        else:
            size = rng.choice(
                (
                    CompanySize.S_1_10,
                    CompanySize.S_11_50,
                    CompanySize.S_11_50,
                    CompanySize.S_51_200,
                    CompanySize.S_51_200,
                    "",
                )
            )
        name = f"{word.capitalize()} {suffix}"
        return [company_id, name, domain, industry, size, country, created, 0, k]

    # -- one lead -----------------------------------------------------------------------------

    def _lead(
        self,
        rng: random.Random,
        index: int,
        lead_id: int,
        slot: int,
        companies: dict[int, list[Any]],
        company_ids: Iterable[int],
        rows: Rows,
    ) -> None:
        world, r = self.world, rng.random
        now = world.now
        # Created over the last 90 days, more of them recently, mostly in working hours.
        u = min((index - self.index_base + r()) / self.total, 1.0)
        span = HISTORY_DAYS * DAY - 2 * HOUR
        created = now - span + int(span * u**0.8)
        if r() < 0.8:
            day_start = created - created % DAY
            created = min(day_start + int((7.5 + 10 * r()) * HOUR), now - HOUR)
        created = max(created, now - HISTORY_DAYS * DAY + 60)

        channel = self._channels[bisect(self._channel_cum, r() * self._channel_cum[-1])]
        seniority = self._seniorities[bisect(self._seniority_cum, r() * self._seniority_cum[-1])]
        titles = JOB_TITLES[seniority]
        title = titles[int(r() * len(titles))]
        last, last_slug = self._last[int(r() * len(self._last))]

        profile, free_mail = "normal", False
        roll = r()
        if roll < 0.006:
            profile = "competitor"
        elif roll < 0.014:
            profile = "bad_data"
        elif seniority == "student":
            profile = "student"

        company: list[Any] | None = None
        enterprise_account = False
        fit = SENIORITY_FIT[seniority]
        if profile == "competitor":
            shared = world.competitors[index % len(world.competitors)] if world.competitors else None
            first, first_slug = self._first[int(r() * len(self._first))]
            domain = shared.domain if shared else "relaycrm.com"
            email = f"{first_slug}.{last_slug}{index}@{domain}"
            company_id, country = (shared.id if shared else None), (shared.country if shared else "US")
            fit -= 60
        elif profile == "bad_data":
            first, last = BAD_DATA_NAMES[index % len(BAD_DATA_NAMES)]
            first_slug, last_slug = ascii_slug(first) or "x", ascii_slug(last) or "x"
            email = f"{first_slug}{last_slug}{index}@{FREE_MAIL[index % len(FREE_MAIL)]}"
            company_id, country, title = None, "", ""
            fit -= 15
        elif profile == "student" and world.universities and r() < 0.4:
            shared = world.universities[index % len(world.universities)]
            first, first_slug = self._first[int(r() * len(self._first))]
            email = f"{first_slug[0]}{last_slug}{index}@{shared.domain}"
            company_id, country = shared.id, shared.country
            fit -= 25
        elif profile == "student" or r() < 0.1:
            first, first_slug = self._first[int(r() * len(self._first))]
            email = f"{first_slug}.{last_slug}{index}@{FREE_MAIL[int(r() * len(FREE_MAIL))]}"
            company_id, country, free_mail = None, "", True
            fit -= 15
        else:
            company = companies.get(slot)
            if company is None:
                company = self._company(rng, slot, next(iter(company_ids)), created)
                companies[slot] = company
            people = company[7]
            company[7] += 1
            # Distinct first names within a company keep every address unique.
            first, first_slug = self._first[(slot * 7 + people * self._first_step) % len(self._first)]
            if people >= len(self._first):
                first_slug = f"{first_slug}{people // len(self._first)}"
            domain = company[2]
            pattern = company[8] % 4  # each company has its own address convention
            if pattern == 0:
                local = f"{first_slug}.{last_slug}"
            elif pattern == 1:
                local = f"{first_slug}{last_slug}"
            elif pattern == 2:
                local = f"{first_slug}.{last_slug[:1]}"
            else:
                local = f"{first_slug}_{last_slug}"
            email = f"{local}@{domain}"
            company_id, country = company[0], company[5]
            size, industry = company[4], company[3]
            enterprise_account = company[8] % 5 == 0
            if size in (CompanySize.S_201_1000, CompanySize.S_1001_5000, CompanySize.S_5000_PLUS):
                fit += 15
            elif size == CompanySize.S_51_200:
                fit += 8
            if industry in TARGET_INDUSTRIES:
                fit += 10
        if country in CORE_TERRITORY:
            fit += 5
        phone = ""
        if country and r() < 0.45:
            phone = f"{COUNTRIES[country][2]}{int(r() * 100):02d}"

        campaign_id = None
        channel_campaigns = world.campaigns.get(channel)
        if channel_campaigns and (channel not in (Channel.EMAIL, Channel.PARTNER) or r() < 0.8):
            campaign_id, _campaign_name = channel_campaigns[int(r() * len(channel_campaigns))]
        details = SOURCE_DETAILS[channel]
        source_detail = details[int(r() * len(details))]

        # -- activities: the one that created the lead, then more by intent ----------------------
        intent = bisect(self._intent_cum, r() * self._intent_cum[-1])
        if profile != "normal":
            intent = 0
        first_type, creator = CREATED_BY[channel]
        owner = None
        if creator == "@sdr" and world.sdrs:
            owner = world.sdrs[int(r() * len(world.sdrs))]
            create_actor: tuple[int | None, str] = (owner, "")
        elif creator == "@marketer" and world.marketers:
            create_actor = (world.marketers[int(r() * len(world.marketers))], "")
        else:
            create_actor = (None, creator if not creator.startswith("@") else "Import")
        if first_type == "sales_email" and owner is not None:
            first_props = self._touch_props[owner]["sales_email"][0]
        elif campaign_id is not None:
            first_props = self._campaign_props[campaign_id]
        else:
            pool = self._props[first_type]
            first_props = pool[int(r() * len(pool))]

        factors = self._activity_factors
        n = max(1, int(factors[int(r() * len(factors))] + r()))
        life = now - created
        codes = rng.choices(self._mix_codes[intent], cum_weights=self._mix_cum[intent], k=n - 1)
        events = sorted((created + 1 + int(life * r()), code) for code in codes)
        events.insert(0, (created, first_type))

        # Engagement as it accrued: when did the lead cross the MQL bar, or raise a hand?
        engagement, per_type = 0, {}
        crossed_at, hot_at = 0, 0
        hot_signals = [at for at, code in events if code in HOT_SIGNALS]
        for at, code in events:
            points = ENGAGEMENT_POINTS.get(code)
            if points is None:
                continue
            value, cap = points
            before = per_type.get(code, 0)
            after = max(-cap, min(cap, before + value))
            per_type[code] = after
            engagement += after - before
            if not hot_at and code in HOT_SIGNALS:
                hot_at = at
            if not crossed_at and fit >= MQL_FIT and engagement >= MQL_ENGAGEMENT:
                crossed_at = at

        props, activities = self._props, rows.activities
        append_activity = activities.append
        for position, (at, code) in enumerate(events):
            if position == 0:
                text = first_props
            else:
                pool = props[code]
                text = pool[int(r() * len(pool))]
            append_activity((lead_id, code, at, text, SOURCE_SYSTEM, "", at))

        # -- the stage walk ------------------------------------------------------------------
        transitions: list[tuple] = [(lead_id, "", _L, created, create_actor[0], create_actor[1], "Created")]
        stage, at = _L, created
        marketers = world.marketers or world.sdrs
        # Back to nurture: hand-raises count only after `since`, the cool-off ends at `cooled`.
        since, cooled = 0, 0

        def move(to: Stage, when: int, user: int | None, rule: str, reason: str) -> None:
            nonlocal stage, at, since, cooled
            if to not in ALLOWED[stage] or when <= at:
                raise RuntimeError(f"demo walk produced an illegal move {stage} -> {to}")
            if (to in REASON_REQUIRED or (to == _M and user is not None)) and not reason:
                raise RuntimeError(f"demo walk moved to {to} without the reason the lifecycle requires")
            if stage == _REC and to == _M and when <= cooled:
                raise RuntimeError("demo walk brought a lead back from nurture before its cool-off ended")
            if to == _REC:  # the cool-off, named in the reason as the services write it
                since, cooled = when, when + DAY * world.nurture_days.get(reason, DEFAULT_NURTURE_DAYS)
                reason += f" (nurture until {datetime.fromtimestamp(cooled, tz=self._zone):%d %b %Y})"
            transitions.append((lead_id, stage, to, when, user, rule, reason))
            stage, at = to, when

        marketer = marketers[int(r() * len(marketers))] if marketers else None
        # lead -> mql, or junk caught by marketing.
        if profile != "normal" and marketer is not None:
            reason = {"competitor": "Competitor", "bad_data": "Bad data", "student": "Student"}[profile]
            if r() < (0.5 if profile == "student" else 0.85):
                when = created + int(HOUR * (2 + 70 * r()))
                if when < now:
                    move(_DQ, when, marketer, "", reason)
        elif hot_at and (not crossed_at or hot_at <= crossed_at):
            # The fast track: a hand-raise makes the lead an MQL at once (an urgent rescore),
            # whatever its scores; whether it is handed off by itself is decided in the walk.
            when = hot_at + 5 + int(55 * r())
            if when < now:
                kind = next(code for moment, code in events if moment == hot_at and code in HOT_SIGNALS)
                local = datetime.fromtimestamp(hot_at, tz=self._zone)
                signal = f"{HOT_SIGNAL_NAMES[kind]} on {local:%d %b %Y %H:%M}"
                why = (
                    f"Fit {fit} ≥ {MQL_FIT} and engagement ≥ {MQL_ENGAGEMENT}; hot: {signal}"
                    if crossed_at == hot_at
                    else f"Fast track: {signal}"
                )
                move(_M, when, None, world.mql_rule, why)
        elif crossed_at:
            when = crossed_at + 60 + int(1_800 * r())
            if when < now:
                move(_M, when, None, world.mql_rule, f"Fit {fit} ≥ {MQL_FIT} and engagement ≥ {MQL_ENGAGEMENT}")
        elif marketer is not None and r() < 0.03 + 0.04 * intent:
            when = created + int(DAY * (1 + 20 * r()))
            if when < now:
                move(_M, when, marketer, "", MANUAL_MQL_REASONS[int(r() * len(MANUAL_MQL_REASONS))])
        elif marketer is not None and r() < 0.03:
            when = created + int(DAY * (3 + 30 * r()))
            if when < now:
                move(_REC, when, marketer, "", QUEUE_RECYCLE_REASONS[int(r() * len(QUEUE_RECYCLE_REASONS))])

        touches: list[tuple[int, str]] = []
        handoffs: list[tuple[int, int]] = []
        automatic: list[int] = []  # the hand-offs the fast track made by itself
        mql_visits = 0
        blocked = self.blocked
        # Hot and not junk: the fast track hands the lead off by itself.
        fast_track = bool(world.sdrs) and profile == "normal" and not free_mail and fit >= world.fast_track_min_fit

        def draw(situation: str, start: int) -> tuple[Stage | None, int]:
            """The next move from the current stage and when, or (None, 0) to stay there."""
            target = self._pick(r, WALK[(stage, situation)])
            if stage == _REC and target == _M and (mql_visits >= 2 or fit < MQL_FIT):
                target = None  # back to MQL only by scoring over the bar again, at most once
            if target in blocked:
                target = None  # a guard or constraint no extension satisfies: stay (see seed())
            if target is None:
                return None, 0
            low, high = DWELL[stage]
            when = start + int(low * (high / low) ** r())
            if stage == _REC and target == _M:
                when = max(when, cooled + 60 + int(DAY * r()))  # not before the cool-off is over
            return (target, when) if when < now else (None, 0)

        def hand_off_automatically(when: int) -> int:
            nonlocal owner
            when = min(when + 30 + int(90 * r()), now)  # the drain, a minute or two later
            owner = owner if owner is not None else world.sdrs[self._route(r, enterprise_account)]
            handoffs.append((when, owner))
            automatic.append(when)
            return when

        while stage not in (_L, _CUS):
            start, handed, drawn = at, False, None
            if stage == _M:
                mql_visits += 1
                if fast_track and _hot(hot_signals, since, at, world.hot_window):
                    start, handed = hand_off_automatically(at), True  # hot when it became an MQL
                else:
                    # Reviewed: handed to an SDR by a marketer a little after becoming an MQL,
                    # unless still in the queue (more likely for the newest MQLs)…
                    delay = int(300 * 96 ** r())  # 5 minutes to 8 hours
                    reviewed = bool(world.sdrs) and at + delay < now
                    reviewed = reviewed and (owner is not None or r() < (0.45 if now - at < DAY else 0.88))
                    if not reviewed:
                        drawn = draw("queue", at)  # how its stay in the queue ends, if it does
                    until = at + delay if reviewed else drawn[1] if drawn[0] is not None else now
                    # …unless it raises its hand while it waits: then the fast track takes it.
                    low = max(at, since)
                    signal = next((h for h in hot_signals if low < h < until), None) if fast_track else None
                    if signal is not None:
                        start, handed, drawn = hand_off_automatically(signal), True, None
                    elif reviewed:
                        owner = owner if owner is not None else world.sdrs[self._route(r, enterprise_account)]
                        handoffs.append((at + delay, owner))
                        start, handed = at + delay, True
                situation = "owned" if handed else "queue"
            else:
                situation = ""
            target, when = drawn if drawn is not None else draw(situation, start)
            if target is None:
                break
            acting_owner = owner if handed or stage != _M else None
            actor_user, rule, reason = self._actor(r, stage, target, acting_owner, marketer, fit)
            if target in (_SAL, _SQL) and stage == _M:
                # Accepting is the first touch; a skip to SQL happened on the first call.
                touches.append((when - 60, "sales_call"))
            if target == _SQL:  # the discovery call that qualified it
                touches.append((when - min(1_800, (when - at) // 2), "sales_meeting"))
            if stage in (_SAL, _SQL) and owner is not None:
                for _ in range(1 + int(3 * r())):
                    touches.append((at + int((when - at) * r()) + 1, "sales_email" if r() < 0.5 else "sales_call"))
            move(target, when, actor_user, rule, reason)
        if stage in (_SAL, _SQL, _OPP) and owner is not None:
            for _ in range(int(3 * r())):
                touches.append((at + int((now - at) * r()), "sales_email" if r() < 0.5 else "sales_call"))

        if touches and owner is not None:
            touches.sort()
            touch_props = self._touch_props[owner]
            for when, code in touches:
                pool = touch_props[code]
                append_activity((lead_id, code, when, pool[int(r() * len(pool))], SOURCE_SYSTEM, "", when))
        if self.stories is not None:
            self.stories.append(
                LeadStory(
                    lead_id=lead_id,
                    email=email,
                    company_id=company_id,
                    owner_id=owner,
                    created_at=created,
                    fit=fit,
                    engagement=engagement,
                    hot_at=hot_at or None,
                    handoffs=handoffs,
                    transitions=transitions,
                    touches=touches,
                    hot_signals=hot_signals,
                    automatic=automatic,
                )
            )

        rows.transitions += transitions
        self.stats["leads"] += 1
        self.stats["activities"] += len(events) + len(touches)
        self.stats["transitions"] += len(transitions)
        self.stats[f"stage:{stage}"] += 1
        for _lead, source, target, *_rest in transitions:
            for passed in lifecycle.passed_stages(source, target):
                self.stats[f"passed:{passed}"] += 1

        rows.leads.append(
            (
                lead_id,
                email,
                first,
                last,
                title,
                phone,
                phone_digits(phone),
                company_id,
                channel,
                source_detail,
                campaign_id,
                owner if stage != _L or channel == Channel.OUTBOUND else None,
                stage,
                *_NO_CALL,
                cooled or None,
                since or None,
                at,
                created,
                at,
            )
        )

    def _route(self, r: Callable[[], float], enterprise_account: bool) -> int:
        """Round-robin-ish routing: named enterprise accounts go to the first two SDRs."""
        sdrs = self.world.sdrs
        if enterprise_account and len(sdrs) > 2:
            return int(r() * 2)
        return int(r() * len(sdrs))

    @staticmethod
    def _pick(r: Callable[[], float], moves: tuple[tuple[Stage | None, int], ...]) -> Stage | None:
        total = sum(weight for _, weight in moves)
        roll = r() * total
        for target, weight in moves:
            roll -= weight
            if roll < 0:
                return target
        return moves[-1][0]

    def _actor(
        self,
        r: Callable[[], float],
        stage: Stage,
        target: Stage,
        owner: int | None,
        marketer: int | None,
        fit: int,
    ) -> tuple[int | None, str, str]:
        """(user id or None, rule name, reason) for one move."""
        if target == _M:  # back from nurture: re-scored over the bar
            return (
                None,
                self.world.mql_rule,
                f"Re-engaged: fit {fit} ≥ {MQL_FIT} and engagement ≥ {MQL_ENGAGEMENT}",
            )
        if target == _SAL:
            return owner, "", ""
        if target == _SQL:
            return owner, "", "Discovery call: BANT complete"
        if target == _OPP:
            return owner, "", "Opportunity created"
        if target == _CUS:
            return None, "Closed won (CRM sync)", "Closed won"
        if target == _REC:
            if stage == _DQ:
                return marketer, "", UNDO_DISQUALIFY_REASON
            if owner is None:
                return marketer, "", QUEUE_RECYCLE_REASONS[int(r() * len(QUEUE_RECYCLE_REASONS))]
            return owner, "", RECYCLE_REASONS[int(r() * len(RECYCLE_REASONS))]
        # disqualified
        user = owner if owner is not None and stage != _REC else marketer
        return user, "", DISQUALIFY_REASONS[int(r() * len(DISQUALIFY_REASONS))]


def _coprime_step(n: int) -> int:
    """A step that visits every index of a list of n before repeating (golden-ratio spread)."""
    step = max(1, int(n * 0.618))
    while math.gcd(step, n) != 1:
        step += 1
    return step


# --- Writing -----------------------------------------------------------------------------------


class _Timestamps:
    """Epoch seconds to SQL text, fast: "YYYY-MM-DD HH:MM:" is formatted once per minute (the
    demo spans 90 days, so the cache stays under ~130,000 short strings)."""

    _SECONDS = tuple(f"{second:02d}" for second in range(60))

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix
        self._minutes: dict[int, str] = {}

    def __call__(self, ts: int) -> str:
        minute, second = divmod(ts, 60)
        prefix = self._minutes.get(minute)
        if prefix is None:
            prefix = datetime.fromtimestamp(minute * 60, tz=UTC).strftime("%Y-%m-%d %H:%M:")
            if len(self._minutes) < 500_000:
                self._minutes[minute] = prefix
        return prefix + self._SECONDS[second] + self.suffix


class Writer:
    """Bulk inserts inside the caller's transaction. Rows are tuples in column order; the values
    at `timestamps` positions are integer UTC epoch seconds (or None). Extensions use it too."""

    vendor = ""

    def reserve_ids(self, table: str, count: int) -> list[int]:
        """`count` fresh primary keys for `table`, for rows that other rows point at."""
        raise NotImplementedError

    def write(
        self,
        table: str,
        columns: Sequence[str],
        rows: list[tuple],
        *,
        timestamps: Sequence[int] | None = None,
        escape: bool = False,
    ) -> None:
        """Insert `rows`. `escape=True` for text that may hold tabs, newlines or backslashes."""
        raise NotImplementedError

    @staticmethod
    def _stamps(table: str, timestamps: Sequence[int] | None) -> tuple[int, ...]:
        return tuple(timestamps) if timestamps is not None else TIMESTAMP_COLUMNS.get(table, ())


def _names(columns: Sequence[str]) -> str:
    """The column list, quoted (a column may be named like a keyword, e.g. a review clock's `end`)."""
    return ", ".join(connection.ops.quote_name(column) for column in columns)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class PostgresWriter(Writer):
    """COPY ... FROM STDIN in text format; ids come from the tables' own sequences."""

    vendor = "postgresql"

    def __init__(self) -> None:
        self.ts = _Timestamps("+00")

    def reserve_ids(self, table: str, count: int) -> list[int]:
        if count <= 0:
            return []
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count]
            )
            return [row[0] for row in cursor.fetchall()]

    def write(
        self,
        table: str,
        columns: Sequence[str],
        rows: list[tuple],
        *,
        timestamps: Sequence[int] | None = None,
        escape: bool = False,
    ) -> None:
        if not rows:
            return
        fmt = self.ts
        if table == "leads_activity" and timestamps is None and not escape:
            # The biggest table, in its own loop: occurred_at and created_at are the same moment.
            lines = [
                f"{lead}\t{code}\t{stamp}\t{props}\t{system}\t{external}\t{stamp}"
                for lead, code, at, props, system, external, _created in rows
                for stamp in (fmt(at),)
            ]
        else:
            stamps = set(self._stamps(table, timestamps))

            def text(i: int, value: Any) -> str:
                if value is None:
                    return "\\N"
                if i in stamps:
                    return fmt(value)
                return str(value).translate(_COPY_ESCAPES) if escape else str(value)

            lines = ["\t".join([text(i, value) for i, value in enumerate(row)]) for row in rows]
        lines.append("")
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({_names(columns)}) FROM STDIN") as copy,
        ):
            copy.write("\n".join(lines))


class SqliteWriter(Writer):
    """executemany on the raw sqlite3 cursor, inside the caller's transaction."""

    vendor = "sqlite"

    def __init__(self) -> None:
        self.ts = _Timestamps("")
        self._next: dict[str, int] = {}

    def reserve_ids(self, table: str, count: int) -> list[int]:
        # Inside the batch transaction SQLite holds the write lock, so MAX(id) cannot move under us.
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608 - fixed table names
            start = max(cursor.fetchone()[0], self._next.get(table, 0)) + 1
        self._next[table] = start + count - 1
        return list(range(start, start + count))

    def write(
        self,
        table: str,
        columns: Sequence[str],
        rows: list[tuple],
        *,
        timestamps: Sequence[int] | None = None,
        escape: bool = False,
    ) -> None:
        if not rows:
            return
        fmt = self.ts
        if table == "leads_activity" and timestamps is None:
            prepared: list[Sequence[Any]] = [
                (lead, code, stamp, props, system, external, stamp)
                for lead, code, at, props, system, external, _created in rows
                for stamp in (fmt(at),)
            ]
        else:
            stamps = self._stamps(table, timestamps)
            prepared = []
            for row in rows:
                values = list(row)
                for i in stamps:
                    if values[i] is not None:
                        values[i] = fmt(values[i])
                prepared.append(values)
        sql = f"INSERT INTO {table} ({_names(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608
        connection.ensure_connection()
        cursor = connection.connection.cursor()
        try:
            cursor.executemany(sql, prepared)
        finally:
            cursor.close()


def writer_for_connection() -> Writer:
    if connection.vendor == "postgresql":
        return PostgresWriter()
    if connection.vendor == "sqlite":
        return SqliteWriter()
    raise RuntimeError(f"seed_demo supports PostgreSQL and SQLite, not {connection.vendor}")


# --- Setup: users, campaigns, shared companies ------------------------------------------------


@dataclass
class Credential:
    username: str
    role: str
    created: bool


def ensure_demo_users() -> tuple[dict[str, Any], list[Credential]]:
    """The demo users, in their role groups. A new user gets the demo password; an existing one
    keeps whatever password it has (it is reported as unchanged)."""
    sync_roles()
    user_model = get_user_model()
    groups = {group.name: group for group in Group.objects.filter(name__in=[role.value for role in Role])}
    encoded = None  # hash once: the demo password is the same for everyone (and public)
    users, credentials = {}, []
    for spec in DEMO_USERS:
        user = user_model.objects.filter(username=spec.username).first()
        created = user is None
        if created:
            encoded = encoded or make_password(DEMO_PASSWORD)
            user = user_model(
                username=spec.username,
                first_name=spec.first_name,
                last_name=spec.last_name,
                email=f"{spec.username}@{DEMO_EMAIL_DOMAIN}",
                is_staff=spec.role is None,
                is_superuser=spec.role is None,
                password=encoded,
            )
            user.save()
        if spec.role is not None:
            user.groups.add(groups[spec.role.value])
        users[spec.username] = user
        credentials.append(Credential(spec.username, spec.role.value if spec.role else "Admin (superuser)", created))
    return users, credentials


def ensure_campaigns(now: datetime) -> dict[str, tuple[tuple[int, str], ...]]:
    by_channel: dict[str, list[tuple[int, str]]] = {}
    today = now.date()
    for slug, name, channel, starts_ago, runs in CAMPAIGNS:
        starts = today - timedelta(days=starts_ago)
        campaign, _ = Campaign.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "channel": channel,
                "starts_on": starts,
                "ends_on": starts + timedelta(days=runs),
                "created_at": now - timedelta(days=starts_ago + 7),
            },
        )
        by_channel.setdefault(campaign.channel or channel, []).append((campaign.pk, campaign.name))
    return {channel: tuple(sorted(items)) for channel, items in by_channel.items()}


def ensure_shared_companies(
    specs: Iterable[tuple[str, str, str]], industry: str, size: str, now: datetime
) -> tuple[SharedCompany, ...]:
    companies = []
    for name, domain, country in specs:
        company, _ = Company.objects.get_or_create(
            domain=domain,
            defaults={
                "name": name,
                "industry": industry,
                "size": size,
                "country": country,
                "created_at": now - timedelta(days=HISTORY_DAYS + 30),
            },
        )
        companies.append(SharedCompany(company.pk, company.domain, str(company.country) or country))
    return tuple(companies)


def _scoring_settings() -> dict[str, Any]:
    """What the generator takes from the active scoring model: the rule name MQL promotions are
    recorded under (as the scoring engine names them), the hot-signal window and the fast track's
    fit floor."""
    from leads.models import ScoringModel, ScoringModelStatus

    model = ScoringModel.objects.filter(status=ScoringModelStatus.ACTIVE).first()
    if model is None:
        return {"mql_rule": "MQL threshold"}
    return {
        "mql_rule": model.rule_name,
        "hot_window": model.hot_signal_window_days * DAY,
        "fast_track_min_fit": model.fast_track_min_fit,
    }


def _nurture_days(extensions: Sequence[SeedExtension]) -> dict[str, int]:
    """The cool-off days of each reason the generator sends leads back to nurture with, as the
    extensions name them (the first that knows a reason wins)."""
    days: dict[str, int] = {}
    for extension in extensions:
        for reason, value in extension.nurture_days(NURTURE_REASONS).items():
            days.setdefault(reason, value)
    return days


def _rescore(low: int, high: int, as_of: datetime) -> None:
    """Score the batch's leads with the active model, so scores come with their explanation."""
    from leads import scoring
    from leads.models import ScoringModel, ScoringModelStatus

    model = ScoringModel.objects.filter(status=ScoringModelStatus.ACTIVE).first()
    if model is not None:
        scoring.rescore(scoring.ScoringSpec.load(model), scoring.LeadSet.between(low, high), as_of=as_of)


# --- Seeding -----------------------------------------------------------------------------------


@transaction.atomic
def prepare_world(moment: datetime) -> tuple[World, list[Credential]]:
    """Users, campaigns and shared companies (idempotent), and what the generator needs of them."""
    users, credentials = ensure_demo_users()
    campaigns = ensure_campaigns(moment)
    universities = ensure_shared_companies(UNIVERSITIES, Industry.EDUCATION, CompanySize.S_5000_PLUS, moment)
    competitors = ensure_shared_companies(COMPETITORS, Industry.SOFTWARE, CompanySize.S_201_1000, moment)
    ids = {role: tuple(users[spec.username].pk for spec in DEMO_USERS if spec.role == role) for role in Role}
    world = World(
        now=int(moment.timestamp()),
        marketers=ids[Role.MARKETER],
        sdrs=ids[Role.SDR],
        campaigns=campaigns,
        universities=universities,
        competitors=competitors,
        nurture_days=_nurture_days(_extensions),
        **_scoring_settings(),
        sdr_usernames={users[spec.username].pk: spec.username for spec in DEMO_USERS if spec.role == Role.SDR},
    )
    return world, credentials


@dataclass
class SeedResult:
    leads: int
    activities: int
    transitions: int
    companies: int
    seconds: float
    credentials: list[Credential]
    stats: Counter[str]
    phases: Counter[str]


def seed(
    *,
    leads: int = DEFAULT_LEADS,
    activities_per_lead: int = DEFAULT_ACTIVITIES_PER_LEAD,
    seed_value: int = DEFAULT_SEED,
    batch_size: int = DEFAULT_BATCH_SIZE,
    score: bool = True,
    append: bool = False,
    now: datetime | None = None,
    progress: TextIO | None = None,
) -> SeedResult:
    """Create the demo users and `leads` leads with their history. See the module docstring."""
    started = time.monotonic()
    moment = (now or timezone.now()).replace(microsecond=0)
    writer = writer_for_connection()
    world, credentials = prepare_world(moment)
    extensions = list(_extensions)
    generator = Generator(seed=seed_value, world=world, total=leads, activities_per_lead=activities_per_lead)
    generator.blocked = blocked_stages(extensions)
    if extensions:
        generator.stories = []
        for extension in extensions:
            extension.prepare(world)
    if generator.blocked:
        names = ", ".join(stage.label for stage in Stage if stage in generator.blocked)
        _say(
            progress,
            f"Note: no lead is moved to {names}: entering them needs rows (e.g. a qualifying discovery "
            "call) that no registered seed extension writes (see leads.demo.SeedExtension).",
        )
    if append:
        # Indexes continue after the existing leads and companies, so appended emails and domains
        # are new (a clash with data from elsewhere is skipped by _drop_collisions).
        generator.index_base = Lead.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        generator.companies_made = Company.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    counts = Counter[str]()
    phases: Counter[str] = Counter()  # seconds spent generating, writing, scoring, committing
    last_report = started
    done = 0
    batch_size = max(BLOCK, batch_size - batch_size % BLOCK)
    _say(
        progress,
        f"Seeding {leads:,} leads (about {leads * activities_per_lead:,} activities) into "
        f"{connection.vendor} with seed {seed_value}, {batch_size:,} leads per transaction…",
    )
    while done < leads:
        size = min(batch_size, leads - done)
        with transaction.atomic():
            lead_ids = writer.reserve_ids("leads_lead", size)
            company_ids = writer.reserve_ids(
                "leads_company",
                sum(generator.reserve_companies(min(BLOCK, size - offset)) for offset in range(0, size, BLOCK)),
            )
            clock = time.monotonic()
            rows = Rows()
            used_company_ids = iter(company_ids)
            for offset in range(0, size, BLOCK):
                count = min(BLOCK, size - offset)
                rows.extend(
                    generator.block(
                        generator.index_base + done + offset,
                        count,
                        lead_ids[offset : offset + count],
                        used_company_ids,
                    )
                )
            if append:
                _drop_collisions(rows)
            clock = _lap(phases, "generate", clock)
            writer.write("leads_company", COMPANY_COLUMNS, rows.companies)
            if extensions:
                _extend(extensions, generator, rows, writer)
                clock = _lap(phases, "extensions", clock)
            writer.write("leads_lead", LEAD_COLUMNS, rows.leads)
            writer.write("leads_stagetransition", TRANSITION_COLUMNS, rows.transitions)
            writer.write("leads_activity", ACTIVITY_COLUMNS, rows.activities)
            clock = _lap(phases, "write", clock)
            if score and rows.leads:
                _rescore(min(lead_ids), max(lead_ids), moment)
                clock = _lap(phases, "score", clock)
        _lap(phases, "commit", clock)
        if done == 0 and leads > size:
            _analyze()  # statistics for the planner once the tables are no longer empty
        counts.update(
            leads=len(rows.leads),
            activities=len(rows.activities),
            transitions=len(rows.transitions),
            companies=len(rows.companies),
        )
        done += size
        del rows
        clock = time.monotonic()
        if done == leads or clock - last_report >= 5:
            last_report = clock
            _say(
                progress,
                f"  {done:>11,} / {leads:,} leads · {counts['activities']:,} activities · "
                f"{counts['transitions']:,} transitions · {clock - started:,.1f} s",
            )
    if leads >= 50_000:
        _analyze()
    for extension in extensions:
        extension.finish()
    if not score:
        _say(
            progress,
            "Scores were left at 0 (not scored yet): the nightly rescore or publishing a scoring model "
            "scores them, or seed with --scoring.",
        )
    return SeedResult(
        leads=counts["leads"],
        activities=counts["activities"],
        transitions=counts["transitions"],
        companies=counts["companies"],
        seconds=time.monotonic() - started,
        credentials=credentials,
        stats=generator.stats,
        phases=phases,
    )


def _lap(phases: Counter[str], name: str, since: float) -> float:
    now = time.monotonic()
    phases[name] += now - since
    return now


def _analyze() -> None:
    """Fresh planner statistics (PostgreSQL; also what the admin's row estimates read)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE leads_company, leads_lead, leads_activity, leads_stagetransition")


def _extend(extensions: list[SeedExtension], generator: Generator, rows: Rows, writer: Writer) -> None:
    """Let each extension write its rows for the batch, then record the qualifying calls."""
    kept = {lead[0] for lead in rows.leads}
    batch = SeedBatch(
        stories=[story for story in generator.stories or () if story.lead_id in kept], now=generator.world.now
    )
    generator.stories = []
    for extension in extensions:
        extension.write(batch, writer)
    if batch.qualifying_calls and HAS_QUALIFYING_CALL:
        position = LEAD_COLUMNS.index("qualifying_call_id")
        calls = batch.qualifying_calls
        rows.leads = [
            (*lead[:position], calls[lead[0]], *lead[position + 1 :]) if lead[0] in calls else lead
            for lead in rows.leads
        ]


def _drop_collisions(rows: Rows) -> None:
    """When appending, skip any generated lead or company that clashes with a stored one."""
    domains = [company[2] for company in rows.companies]
    emails = [lead[1] for lead in rows.leads]
    taken_domains: dict[str, int] = {}
    for chunk in _chunks(domains, 500):
        taken_domains.update(Company.objects.filter(domain__in=chunk).values_list("domain", "pk"))
    taken_emails: set[str] = set()
    for chunk in _chunks(emails, 500):
        taken_emails.update(Lead.objects.filter(email__in=chunk).values_list("email", flat=True))
    if not taken_domains and not taken_emails:
        return
    remap = {company[0]: taken_domains[company[2]] for company in rows.companies if company[2] in taken_domains}
    rows.companies = [company for company in rows.companies if company[2] not in taken_domains]
    dropped = {lead[0] for lead in rows.leads if lead[1] in taken_emails}
    rows.leads = [
        (*lead[:LEAD_COMPANY], remap.get(lead[LEAD_COMPANY], lead[LEAD_COMPANY]), *lead[LEAD_COMPANY + 1 :])
        for lead in rows.leads
        if lead[0] not in dropped
    ]
    rows.activities = [row for row in rows.activities if row[0] not in dropped]
    rows.transitions = [row for row in rows.transitions if row[0] not in dropped]


def _chunks(values: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _say(stream: TextIO | None, message: str) -> None:
    if stream is not None:
        stream.write(message + "\n")
        stream.flush()


# Free-mail domains the generator uses must be ones `lead_create` treats as free mail.
if not set(FREE_MAIL) <= FREE_MAIL_DOMAINS:
    raise RuntimeError("demo free-mail domains must be in leads.domains.FREE_MAIL_DOMAINS")
