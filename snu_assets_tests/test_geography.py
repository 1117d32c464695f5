"""Unit tests for the departments / regions / académies reference table."""

from __future__ import annotations

import csv

import pytest

from snu_assets.core.reference import geography
from snu_assets.core.reference.geography import Department, department_by_name

METROPOLITAN_REGIONS = {
    "Auvergne-Rhône-Alpes",
    "Bourgogne-Franche-Comté",
    "Bretagne",
    "Centre-Val de Loire",
    "Corse",
    "Grand Est",
    "Hauts-de-France",
    "Île-de-France",
    "Normandie",
    "Nouvelle-Aquitaine",
    "Occitanie",
    "Pays de la Loire",
    "Provence-Alpes-Côte d'Azur",
}
OVERSEAS_REGIONS = {"Guadeloupe", "Martinique", "Guyane", "La Réunion", "Mayotte"}
OVERSEAS_DEPARTMENTS = {"971", "972", "973", "974", "976"}
OVERSEAS_COLLECTIVITIES = {"975", "977", "978", "986", "987", "988"}
METROPOLITAN_CODES = {f"{n:02d}" for n in range(1, 96) if n != 20} | {"2A", "2B"}


def test_csv_file_and_header():
    path = geography.csv_path()
    assert path.is_file()
    assert path.name == "geography.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    assert header == ["department_code", "department", "region", "academy"]


def test_row_count():
    departments = geography.departments()
    assert len(METROPOLITAN_CODES) == 96
    assert len(departments) == 96 + 5 + 6 == 107
    assert all(isinstance(d, Department) for d in departments)


def test_loader_is_cached_and_frozen():
    assert geography.departments() is geography.departments()
    with pytest.raises(AttributeError):
        geography.departments()[0].name = "x"  # type: ignore[misc]


def test_codes_and_names_unique_and_filled():
    departments = geography.departments()
    codes = [d.code for d in departments]
    names = [d.name for d in departments]
    assert len(set(codes)) == len(codes)
    assert len(set(names)) == len(names)
    for d in departments:
        assert d.code and d.name and d.region and d.academy
        assert d.name == d.name.strip()
        assert "académie" not in d.academy.casefold()


def test_expected_codes_present():
    codes = {d.code for d in geography.departments()}
    assert METROPOLITAN_CODES <= codes
    assert "20" not in codes
    assert codes == METROPOLITAN_CODES | OVERSEAS_DEPARTMENTS | OVERSEAS_COLLECTIVITIES


def test_file_order_is_code_order():
    codes = [d.code for d in geography.departments()]
    assert codes[0] == "01"
    assert codes[codes.index("19") + 1 : codes.index("19") + 4] == ["2A", "2B", "21"]
    assert codes[-1] == "988"


def test_metropolitan_departments_are_in_metropolitan_regions():
    for d in geography.departments():
        if d.code in METROPOLITAN_CODES:
            assert d.region in METROPOLITAN_REGIONS, d
        elif d.code in OVERSEAS_DEPARTMENTS:
            assert d.region == d.name == d.academy, d


def test_paris():
    paris = department_by_name("Paris")
    assert paris == Department("75", "Paris", "Île-de-France", "Paris")


@pytest.mark.parametrize(
    ("name", "region", "academy"),
    [
        ("Hauts-de-Seine", "Île-de-France", "Versailles"),
        ("Val-d'Oise", "Île-de-France", "Versailles"),
        ("Seine-Saint-Denis", "Île-de-France", "Créteil"),
        ("Bouches-du-Rhône", "Provence-Alpes-Côte d'Azur", "Aix-Marseille"),
        ("Var", "Provence-Alpes-Côte d'Azur", "Nice"),
        ("Isère", "Auvergne-Rhône-Alpes", "Grenoble"),
        ("Puy-de-Dôme", "Auvergne-Rhône-Alpes", "Clermont-Ferrand"),
        ("Moselle", "Grand Est", "Nancy-Metz"),
        ("Calvados", "Normandie", "Normandie"),
        ("Territoire de Belfort", "Bourgogne-Franche-Comté", "Besançon"),
        ("Hérault", "Occitanie", "Montpellier"),
        ("Tarn", "Occitanie", "Toulouse"),
        ("Corse-du-Sud", "Corse", "Corse"),
        ("La Réunion", "La Réunion", "La Réunion"),
        ("Saint-Martin", "Saint-Martin", "Guadeloupe"),
    ],
)
def test_attachments(name, region, academy):
    department = department_by_name(name)
    assert department is not None
    assert (department.region, department.academy) == (region, academy)


@pytest.mark.parametrize(
    ("query", "expected_code"),
    [
        ("cotes d armor", "22"),
        ("Cotes-d'Armor", "22"),
        ("CÔTES D’ARMOR", "22"),
        ("  val d'oise ", "95"),
        ("seine saint denis", "93"),
        ("ille et vilaine", "35"),
        ("la reunion", "974"),
        ("territoire-de-belfort", "90"),
        ("2A", "2A"),
        ("2b", "2B"),
        ("75", "75"),
        ("971", "971"),
        ("1", "01"),
    ],
)
def test_tolerant_lookup(query, expected_code):
    department = department_by_name(query)
    assert department is not None
    assert department.code == expected_code


def test_lookup_by_name_and_code():
    assert department_by_name("2A").name == "Corse-du-Sud"
    assert department_by_name("Côtes-d'Armor").code == "22"


@pytest.mark.parametrize("query", ["", "   ", "Atlantide", "20", "99", "Corse du"])
def test_lookup_unknown(query):
    assert department_by_name(query) is None


def test_regions():
    regions = geography.regions()
    assert list(regions) == sorted(set(regions))
    assert METROPOLITAN_REGIONS <= set(regions)
    assert OVERSEAS_REGIONS <= set(regions)
    assert len(METROPOLITAN_REGIONS | OVERSEAS_REGIONS) == 18
    metropolitan = {d.region for d in geography.departments() if d.code in METROPOLITAN_CODES}
    assert metropolitan == METROPOLITAN_REGIONS


def test_academies():
    academies = geography.academies()
    assert list(academies) == sorted(set(academies))
    metropolitan = {d.academy for d in geography.departments() if d.code in METROPOLITAN_CODES}
    assert len(metropolitan) == 25
    assert {
        "Créteil",
        "Versailles",
        "Paris",
        "Aix-Marseille",
        "Nice",
        "Orléans-Tours",
    } <= metropolitan
    assert {"Guadeloupe", "Martinique", "Guyane", "La Réunion", "Mayotte"} <= set(academies)
