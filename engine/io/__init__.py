"""Files in and out, one module per format: the canonical price/reserve/feature CSVs
(:mod:`.canonical`), importers of real-world market files (:mod:`.formats`), meter files
(:mod:`.meter`), emission-factor datasets (:mod:`.emission_factors`) and site files
(:mod:`.site_file`). Nothing here touches the database.
"""
