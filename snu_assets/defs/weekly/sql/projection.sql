-- validated expected at the close of the cohort's inscriptions at the pace observed so far:
-- cumulated validated x (days of the inscription window / days elapsed at the week's end).
case
    when k.inscription_end is null or k.inscription_start is null then null
    when %(week_end)s::date >= k.inscription_end then c.validated_cumulated::numeric
    when %(week_end)s::date <= k.inscription_start then null
    else round(c.validated_cumulated::numeric
               * (k.inscription_end - k.inscription_start)
               / (%(week_end)s::date - k.inscription_start), 1)
end
