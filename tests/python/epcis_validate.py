"""Validates EPCIS 2.0 JSON(-LD) documents against GS1's JSON schema (draft-07).

usage: epcis_validate.py SCHEMA FILE...
Prints {"valid": N, "invalid": {file: [first errors]}}; exit status 0 when all are valid.
Formats (uri, date-time) are checked where jsonschema has a checker for them."""
import json
import sys

import jsonschema


def main() -> int:
    schema_path, *files = sys.argv[1:]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    validator = validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)
    valid, invalid = 0, {}
    for path in files:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        if errors:
            invalid[path] = [
                f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:5]
            ]
        else:
            valid += 1
    print(json.dumps({"valid": valid, "invalid": invalid}))
    return 0 if not invalid else 1


if __name__ == "__main__":
    sys.exit(main())
