from pyspark import pipelines as dp


@dp.table
def sample_trips_my_default_python():
    return spark.read.table("samples.nyctaxi.trips")
