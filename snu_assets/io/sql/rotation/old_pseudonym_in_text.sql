-- rows of {table} whose text column {column} holds a pseudonym of the old key
select count(*) from {table} t join old_pseudonyms o on t."{column}" = o.id
